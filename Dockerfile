# Punching Fist runtime image: the operator (`punching-fist serve --kubernetes`) with kubectl.
# Build: docker build -t punchingfist/operator:0.1.0 .

ARG PYTHON_VERSION=3.11
ARG KUBECTL_VERSION=v1.32.4

# kubectl, for the agent's kubectl tool and `cli` steps.
FROM registry.k8s.io/kubectl:${KUBECTL_VERSION} AS kubectl

# Build wheels for the project and its dependencies.
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --wheel-dir /wheels .

# The runtime: no compilers, no pip cache, a non-root user.
FROM python:${PYTHON_VERSION}-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 HOME=/tmp
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl jq git openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 punchingfist \
    && useradd --system --uid 10001 --gid punchingfist --home-dir /var/lib/punching-fist \
       --create-home --shell /usr/sbin/nologin punchingfist
COPY --from=kubectl /bin/kubectl /usr/local/bin/kubectl
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels punching-fist && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/punching-fist
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["punching-fist"]
CMD ["serve", "--kubernetes", "--host", "0.0.0.0", "--port", "8080"]
