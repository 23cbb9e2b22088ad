# The storefront API. Build: docker build -t storefront-api .
# Stage 1 builds a release binary with the Swift standard library linked in;
# stage 2 holds that binary, the MySQL client library and CA certificates only.
FROM swift:6.3-bookworm AS build
# The build stage is labelled too: each rebuild leaves its image untagged, and
# the label is how `docker image prune --filter label=...` finds them.
LABEL org.opencontainers.image.title="storefront-api"
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends default-libmysqlclient-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product storefront \
 && install -m 0755 "$(swift build -c release --show-bin-path)/storefront" /storefront

FROM debian:bookworm-slim
LABEL org.opencontainers.image.title="storefront-api"
# Debian stable's packages, not pinned: pins break at every point release,
# and these two should take their security updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmariadb3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --gid 0 --no-create-home --shell /usr/sbin/nologin storefront
COPY --from=build /storefront /usr/local/bin/storefront
USER 10001
ENV PORT=8080 LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 CMD ["/usr/local/bin/storefront", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/storefront"]
CMD ["serve"]
