package io.vqwen.gateway;

import io.smallrye.mutiny.Uni;
import io.vqwen.gateway.MeshClients.Peer;
import io.vqwen.proto.v1.InfoResponse;
import jakarta.enterprise.context.ApplicationScoped;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.eclipse.microprofile.config.ConfigProvider;

/**
 * Whether the whole pipeline can answer: every peer's Info reachable, each peer the service it should be, one
 * model revision everywhere (the gateway's included: its tokenizer must be the decoder's), and the tensor widths
 * chained: vision feature width = projector input, projector output = decoder hidden size.
 */
@ApplicationScoped
public class MeshCheck {
    /** Info of each reachable peer, and what is wrong (empty when ready). */
    public record Snapshot(Map<Peer, InfoResponse> infos, List<String> problems) {
        public boolean ready() {
            return problems.isEmpty();
        }
    }

    private record PeerState(Peer peer, InfoResponse info, String error) {
    }

    private static final long DECODER_INFO_TTL_NANOS = 5_000_000_000L;

    private final MeshClients mesh;
    private final ModelFiles model;
    private volatile InfoResponse decoderInfo;
    private volatile long decoderInfoAt;

    public MeshCheck(MeshClients mesh, ModelFiles model) {
        this.mesh = mesh;
        this.model = model;
    }

    public Uni<Snapshot> check() {
        return Uni.combine().all().unis(state(Peer.VISION), state(Peer.PROJECTOR), state(Peer.DECODER))
                .with(PeerState.class, this::judge);
    }

    private Uni<PeerState> state(Peer p) {
        return mesh.info(p).map(i -> new PeerState(p, i, null))
                .onFailure().recoverWithItem(e -> new PeerState(p, null, p.label + " unreachable at " + address(p) + ": "
                        + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage())));
    }

    private Snapshot judge(List<PeerState> states) {
        Map<Peer, InfoResponse> infos = new EnumMap<>(Peer.class);
        List<String> problems = new ArrayList<>();
        for (PeerState s : states) {
            if (s.error != null) {
                problems.add(s.error);
                continue;
            }
            String want = s.peer.name().toLowerCase(java.util.Locale.ROOT);
            if (!s.info.getService().equals(want)) {
                problems.add(address(s.peer) + " is a '" + s.info.getService() + "' service, expected '" + want + "'");
                continue;
            }
            infos.put(s.peer, s.info);
            if (!s.info.getRevision().equals(model.revision())) {
                problems.add(s.peer.label + " serves model revision " + s.info.getRevision() + " (" + s.info.getModel()
                        + "), the gateway's tokenizer and config are revision " + model.revision() + " (" + model.dir() + ")");
            }
        }
        InfoResponse v = infos.get(Peer.VISION), p = infos.get(Peer.PROJECTOR), d = infos.get(Peer.DECODER);
        if (v != null && p != null && v.getOutputWidth() != p.getInputWidth()) {
            problems.add("vision-service features are " + v.getOutputWidth() + " wide, projector-service takes " + p.getInputWidth());
        }
        if (p != null && d != null && p.getOutputWidth() != d.getInputWidth()) {
            problems.add("projector-service embeddings are " + p.getOutputWidth() + " wide, decoder-service hidden size is " + d.getInputWidth());
        }
        if (v != null && v.getTokensPerImage() != model.config().imageTokensPerImage()) {
            problems.add("vision-service gives " + v.getTokensPerImage() + " tokens per image, the gateway's prompts expand "
                    + model.config().imageTokensPerImage());
        }
        if (d != null) {
            decoderInfo = d;
            decoderInfoAt = System.nanoTime();
        }
        // A peer that just came back should be reconnected now, not at the end of the channel's backoff.
        if (!problems.isEmpty()) mesh.resetConnectBackoff();
        return new Snapshot(infos, List.copyOf(problems));
    }

    /** The decoder's Info (for max_model_len), at most a few seconds old; fails with 503 when it cannot be reached. */
    public Uni<InfoResponse> decoderInfo() {
        InfoResponse d = decoderInfo;
        if (d != null && System.nanoTime() - decoderInfoAt < DECODER_INFO_TTL_NANOS) return Uni.createFrom().item(d);
        return mesh.info(Peer.DECODER)
                .invoke(i -> {
                    decoderInfo = i;
                    decoderInfoAt = System.nanoTime();
                })
                .onFailure().transform(e -> {
                    mesh.resetConnectBackoff();
                    return ApiException.unavailable("decoder-service is unavailable at " + address(Peer.DECODER) + ": "
                            + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage()), e);
                });
    }

    /** The last decoder Info seen, or null. */
    public InfoResponse lastDecoderInfo() {
        return decoderInfo;
    }

    static String address(Peer p) {
        var c = ConfigProvider.getConfig();
        String name = p.name().toLowerCase(java.util.Locale.ROOT);
        return c.getOptionalValue("quarkus.grpc.clients." + name + ".host", String.class).orElse("localhost") + ":"
                + c.getOptionalValue("quarkus.grpc.clients." + name + ".port", String.class).orElse("?");
    }
}
