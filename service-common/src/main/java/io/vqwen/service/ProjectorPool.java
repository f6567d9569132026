package io.vqwen.service;

import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The projector replicas, and which one owns an image: rendezvous (highest random weight) hashing on the image's
 * SHA-256, so every gateway and decoder picks the same replica for a hash without talking to each other, and
 * adding or removing a replica moves only the images it gains or loses. One endpoint (today's
 * {@code quarkus.grpc.clients.projector}) is the default; {@code vqwen.projector-endpoints} lists more.
 */
public final class ProjectorPool implements AutoCloseable {
    /** One replica: its address (the hashing key) and a channel to it. */
    public record Endpoint(String address, Channel channel) {
    }

    private final List<Endpoint> endpoints;
    private final List<ManagedChannel> owned = new ArrayList<>();

    /** The default pool: one projector, over a channel someone else manages (a Quarkus gRPC client). */
    public ProjectorPool(Endpoint only) {
        this.endpoints = List.of(only);
    }

    /** A pool over {@code host:port} addresses, with plaintext channels it owns; blank means "use {@code fallback}". */
    public static ProjectorPool of(String addresses, Endpoint fallback, int maxInboundBytes) {
        List<String> list = parse(addresses);
        if (list.isEmpty()) return new ProjectorPool(fallback);
        return new ProjectorPool(list, maxInboundBytes);
    }

    private ProjectorPool(List<String> addresses, int maxInboundBytes) {
        List<Endpoint> eps = new ArrayList<>();
        for (String a : addresses) {
            ManagedChannel c = ManagedChannelBuilder.forTarget(a).usePlaintext().maxInboundMessageSize(maxInboundBytes).build();
            owned.add(c);
            eps.add(new Endpoint(a, c));
        }
        this.endpoints = List.copyOf(eps);
    }

    /** "host:port, host:port" -> the addresses; checks each has a port. */
    public static List<String> parse(String csv) {
        List<String> out = new ArrayList<>();
        if (csv == null) return out;
        for (String s : csv.split(",")) {
            String a = s.trim();
            if (a.isEmpty()) continue;
            int colon = a.lastIndexOf(':');
            if (colon <= 0 || colon == a.length() - 1 || !a.substring(colon + 1).chars().allMatch(Character::isDigit)) {
                throw new IllegalArgumentException("vqwen.projector-endpoints: '" + a + "' is not host:port");
            }
            out.add(a);
        }
        return out;
    }

    public List<Endpoint> endpoints() {
        return endpoints;
    }

    /** The replica that owns {@code sha256}. */
    public Endpoint owner(String sha256) {
        return endpoints.get(ownerIndex(endpoints.stream().map(Endpoint::address).toList(), sha256));
    }

    /** Rendezvous hashing: the address with the highest weight for this hash wins. */
    static int ownerIndex(List<String> addresses, String sha256) {
        long key = Long.parseUnsignedLong(sha256.substring(0, 16), 16);
        int best = 0;
        long bestWeight = Long.MIN_VALUE;
        for (int i = 0; i < addresses.size(); i++) {
            long w = mix(key ^ mix(addresses.get(i).hashCode()));
            if (w > bestWeight) {
                bestWeight = w;
                best = i;
            }
        }
        return best;
    }

    /** SplitMix64's finaliser: a well-spread 64-bit weight. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    @Override
    public void close() {
        for (ManagedChannel c : owned) {
            c.shutdown();
            try {
                c.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
