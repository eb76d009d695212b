"""Docker Swarm backend: stack rendering (``stack``), the running cluster (``cluster``), the
engine it deploys to (``engines``) and several local nodes on one machine (``nodes``)."""
