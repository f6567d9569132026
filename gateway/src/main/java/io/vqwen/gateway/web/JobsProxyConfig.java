package io.vqwen.gateway.web;

import io.smallrye.config.ConfigMapping;
import java.net.URI;
import java.util.Optional;

/**
 * The gateway's setting for the job API it forwards. A mapping of its own under {@code vqwen.gateway}, beside
 * {@code GatewayConfig}: SmallRye Config refuses a property under a mapped prefix that no mapping declares.
 */
@ConfigMapping(prefix = "vqwen.gateway")
public interface JobsProxyConfig {
    /** The caption worker's HTTP address (env VQWEN_GATEWAY_JOBS_URL), e.g. http://localhost:8084; unset: jobs answer 503. */
    Optional<URI> jobsUrl();
}
