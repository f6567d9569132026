package io.vqwen.cli.mesh;

/**
 * The four processes of the mesh: their Maven module (which holds {@code target/quarkus-app}) and their place in
 * the port conventions (gateway 8080/9080, vision 8081/9081, projector 8082/9082, decoder 8083/9083). The caption
 * worker that {@code ./vqwen up} adds is not one of them: it needs Kafka, and takes 8084 (see {@link MeshLayout}).
 */
public enum MeshService {
    VISION("vision", "vision-service", 1),
    PROJECTOR("projector", "projector-service", 2),
    DECODER("decoder", "decoder-service", 3),
    GATEWAY("gateway", "gateway", 0);

    private final String id;
    private final String module;
    private final int portOffset;

    MeshService(String id, String module, int portOffset) {
        this.id = id;
        this.module = module;
        this.portOffset = portOffset;
    }

    /** The name the services use for each other: gRPC client names (quarkus.grpc.clients.ID.*), log prefixes. */
    public String id() {
        return id;
    }

    public String module() {
        return module;
    }

    /** HTTP port offset from the gateway's; gRPC is HTTP + 1000. */
    public int portOffset() {
        return portOffset;
    }

    public static MeshService byId(String id) {
        for (MeshService s : values()) {
            if (s.id.equals(id) || s.module.equals(id)) return s;
        }
        throw new IllegalArgumentException("unknown service '" + id + "' (expected vision, projector, decoder or gateway)");
    }
}
