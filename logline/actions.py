"""The action names each side logs, and which of them may say ``result: fail``.

A happy run holds no ``result: fail`` line (the course's checks fail a run on one): a step that
is part of the normal course of a run (a connection retried while the server starts, a winners
query answered "not yet") is ``in_progress``. ``fail`` is for the lines of ``*_MAY_FAIL``, and
docs/CONVENTIONS.md lists the same (a test compares them).
"""

from __future__ import annotations

# -- both sides --
CONFIG = "config"
SHUTDOWN = "shutdown"
CONSULTA_GANADORES = "consulta_ganadores"

# -- server --
RECUPERACION = "recuperacion"
DESCARTE_NO_CONFIRMADO = "descarte_no_confirmado"
LISTEN = "listen"
STARTUP = "startup"
WORKER_START = "worker_start"
WORKER_EXIT = "worker_exit"
WORKER_RESTART = "worker_restart"
WORKER_STOP = "worker_stop"
LOCK_LIBERADO = "lock_liberado"
ACCEPT_CONNECTIONS = "accept_connections"
APUESTA_ALMACENADA = "apuesta_almacenada"
APUESTA_RECIBIDA = "apuesta_recibida"
LOTE_DUPLICADO = "lote_duplicado"
VERIFICAR_LOTE = "verificar_lote"
AGENCIA_FINALIZADA = "agencia_finalizada"
SORTEO = "sorteo"
CONNECTION = "connection"
CLOSE_CONNECTION = "close_connection"

# -- client --
CONNECT = "connect"
LEER_APUESTAS = "leer_apuestas"
APUESTA_ENVIADA = "apuesta_enviada"
LOTE_CONFIRMADO = "lote_confirmado"
VERIFICAR_CONTEO = "verificar_conteo"
FINALIZADO = "finalizado"
TEST_ECHO_SERVER = "test_echo_server"  # the health probe, python -m client.probe

# -- the harness's own lines (the ``harness`` pseudo-service) --
FAULT = "fault"
TRIAL = "trial"
SIGNAL = "signal"  # Cluster.signal / kill: a marker on the timeline report
PLACEMENT = "placement"  # swarm backend: the node each task runs on (harness.swarm.cluster)

SERVER_ACTIONS = frozenset(
    {
        CONFIG,
        RECUPERACION,
        DESCARTE_NO_CONFIRMADO,
        LISTEN,
        STARTUP,
        WORKER_START,
        WORKER_EXIT,
        WORKER_RESTART,
        WORKER_STOP,
        LOCK_LIBERADO,
        ACCEPT_CONNECTIONS,
        APUESTA_ALMACENADA,
        APUESTA_RECIBIDA,
        LOTE_DUPLICADO,
        VERIFICAR_LOTE,
        AGENCIA_FINALIZADA,
        SORTEO,
        CONSULTA_GANADORES,
        CONNECTION,
        CLOSE_CONNECTION,
        SHUTDOWN,
    }
)
CLIENT_ACTIONS = frozenset(
    {
        CONFIG,
        CONNECT,
        LEER_APUESTAS,
        APUESTA_ENVIADA,
        LOTE_CONFIRMADO,
        VERIFICAR_CONTEO,
        FINALIZADO,
        CONSULTA_GANADORES,
        SHUTDOWN,
        TEST_ECHO_SERVER,
    }
)
HARNESS_ACTIONS = frozenset({FAULT, TRIAL, SIGNAL, PLACEMENT})

# The only lines that may carry ``result: fail``; each is a real failure, never a normal step.
SERVER_MAY_FAIL = frozenset(
    {
        STARTUP,  # the server cannot start (bad settings, port taken, unreadable store)
        ACCEPT_CONNECTIONS,  # accept() itself failed
        APUESTA_RECIBIDA,  # a batch refused
        VERIFICAR_LOTE,  # a batch differs from the stored one of the same seq: the store is an earlier run's
        CONNECTION,  # a bad frame, a stall, EOF mid-frame, a reset
        WORKER_EXIT,  # a worker died (it is replaced)
        WORKER_STOP,  # a worker did not stop in time at shutdown (killed)
    }
)
CLIENT_MAY_FAIL = frozenset(
    {
        CONFIG,  # unusable settings (exit 2)
        CONNECT,  # a connection lost mid-run, or giving up after connect.deadline
        LEER_APUESTAS,  # a malformed row of the agency file
        APUESTA_ENVIADA,  # the single bet refused
        LOTE_CONFIRMADO,  # a batch refused
        VERIFICAR_CONTEO,  # the server's count differs from the client's
        FINALIZADO,  # FINISHED refused
        CONSULTA_GANADORES,  # the winners query refused
        TEST_ECHO_SERVER,  # the probe got no PONG echoing its PING
    }
)
HARNESS_MAY_FAIL = frozenset({FAULT, TRIAL})
