"""Offline stand-ins for the public ``FROM`` images of a Dockerfile (a student's TP0, this repository).

Every external image a Dockerfile's ``FROM`` lines name (global ``ARG`` defaults and build args
substituted, ``--platform=`` flags skipped, stages and ``scratch`` left out) is made available under
exactly that name: present locally, nothing to do; else pulled (short timeout); else a stand-in built
offline from Debian (bookworm; trixie for a newer Go) and tagged with the requested name, said
plainly through ``report``:

- ``golang:*``            -> minbase + golang-go + ca-certificates: Go 1.19 (bookworm) for
                             ``golang:1.19`` and older, else Go 1.24 (trixie)
- ``busybox*``, ``alpine*`` -> /bin/busybox (Debian's busybox-static) and its applet links, nothing else
- ``python:*``            -> minbase + python3, python-is-python3, python3-pip, python3-yaml

Each kind is built once and cached under ``lottery-harness/standin-KIND:SUITE`` with the label
``STANDIN_LABEL``; requested names are plain ``docker tag``s of it. A real image (present without that
label, or pullable) is never replaced; a stand-in already tagged is replaced by the real image as soon
as a pull succeeds.

``fromlines`` reads the Dockerfiles, ``kinds`` says what each stand-in is, ``ensure`` decides per
image (present, pulled or stand-in) and ``build`` makes the stand-ins on the engine. This package
exports only what the rest of the harness uses; the rest is imported from its module.
"""

from harness.standins.ensure import DEFAULT_DOCKERFILES, StandIn, ensure_from_images, ensure_run_image
from harness.standins.kinds import StandInError

__all__ = ["DEFAULT_DOCKERFILES", "StandIn", "StandInError", "ensure_from_images", "ensure_run_image"]
