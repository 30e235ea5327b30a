#!/bin/sh
# Verify the Dockerfile without Docker: its steps in a Debian bookworm chroot made with
# debootstrap, then the service started in it and used (deploy/verify_image.py says how).
# Needs root and network access to deb.debian.org and PyPI; takes minutes.
#   deploy/verify-image.sh [--keep] [--cache DIR] [--dockerfile FILE] [--context DIR]
set -eu
exec python3 "$(dirname "$0")/verify_image.py" "$@"
