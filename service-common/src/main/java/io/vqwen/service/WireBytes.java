package io.vqwen.service;

import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * Bytes per image on each hop of the mesh, as one Micrometer summary tagged by hop
 * ({@code vqwen_wire_image_bytes_count|sum|max{hop=...}} in Prometheus): image files gateway -> projector, features vision -> projector,
 * embeddings projector -> decoder. The gateway never records an embeddings hop: it never carries one.
 */
public final class WireBytes {
    public static final String GATEWAY_PROJECTOR = "gateway_projector";
    public static final String VISION_PROJECTOR = "vision_projector";
    public static final String PROJECTOR_DECODER = "projector_decoder";

    private WireBytes() {
    }

    public static DistributionSummary hop(MeterRegistry registry, String hop) {
        return DistributionSummary.builder("vqwen.wire.image").baseUnit("bytes").tag("hop", hop)
                .description("Bytes one image takes on a hop of the mesh (image file, features or embeddings)").register(registry);
    }
}
