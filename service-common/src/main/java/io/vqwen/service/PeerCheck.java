package io.vqwen.service;

import io.vqwen.proto.v1.InfoResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.eclipse.microprofile.config.ConfigProvider;
import java.util.function.Supplier;

/**
 * A peer checked through its Info RPC: the same model revision and matching tensor widths (vision feature width =
 * projector input; projector output = decoder hidden size), so that a mismatched deployment never turns ready.
 *
 * @param peer     the peer's name ("vision", "projector")
 * @param address  host:port, for the messages
 * @param info     calls Info with a deadline; throws when the peer does not answer
 * @param mismatch why the answer does not fit this service, or null when it does
 */
public record PeerCheck(String peer, String address, Supplier<InfoResponse> info, Function<InfoResponse, String> mismatch) {
    /** host:port of a Quarkus gRPC client, as configured ({@code quarkus.grpc.clients.NAME.host/port}). */
    public static String address(String client) {
        var c = ConfigProvider.getConfig();
        String host = c.getOptionalValue("quarkus.grpc.clients." + client + ".host", String.class).orElse("localhost");
        String port = c.getOptionalValue("quarkus.grpc.clients." + client + ".port", String.class).orElse("9000");
        return host + ":" + port;
    }

    /** The standard comparison: revision and one width; every difference found is named. */
    public static Function<InfoResponse, String> expecting(String revision, String peerWidthName, Function<InfoResponse, Long> peerWidth,
                                                           String ourWidthName, long ourWidth) {
        return r -> {
            List<String> why = new ArrayList<>();
            long w = peerWidth.apply(r);
            if (w != ourWidth) {
                why.add(r.getService() + " " + peerWidthName + " is " + w + " but this service's " + ourWidthName + " is " + ourWidth);
            }
            if (!r.getRevision().equals(revision)) {
                why.add("model revision differs: " + r.getService() + " serves " + r.getModel() + " @ " + r.getRevision()
                        + ", this service @ " + revision);
            }
            return why.isEmpty() ? null : String.join("; ", why);
        };
    }
}
