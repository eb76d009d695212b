"""``harness check``: the course's contract checked on a student's TP0 repository, exercise by
exercise (``ej1`` ... ``ej8``), each check a verdict with its evidence. The repository is only read
(``sut``); its images are built offline (``build``), its compose file made safe (``safecompose``) and
run in a ``Cluster`` (``run``); ``runner`` runs the checks, ``cli`` reports them."""
