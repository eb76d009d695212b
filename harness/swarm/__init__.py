"""Docker Swarm backend: stack rendering (``stack``), the running cluster (``cluster``) over its
tasks (``tasks``), their logs (``servicelogs``) and the stack's removal (``removal``), the engine it
deploys to (``engines``), several local nodes on one machine (``nodes``, on the host commands of
``host``; ``harness swarm``: ``cli``) and the swarm of a ``harness`` run (``runs``)."""
