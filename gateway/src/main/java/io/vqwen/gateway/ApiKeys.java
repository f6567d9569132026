package io.vqwen.gateway;

import jakarta.enterprise.context.ApplicationScoped;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** Optional bearer keys ({@code vqwen.api-keys}, env VQWEN_API_KEYS, comma-separated); none configured = auth off. */
@ApplicationScoped
public class ApiKeys {
    private final List<byte[]> keys = new ArrayList<>();

    public ApiKeys(@ConfigProperty(name = "vqwen.api-keys") Optional<List<String>> configured) {
        configured.ifPresent(l -> l.stream().map(String::trim).filter(k -> !k.isEmpty())
                .forEach(k -> keys.add(k.getBytes(StandardCharsets.UTF_8))));
    }

    public boolean enabled() {
        return !keys.isEmpty();
    }

    /** Checks an {@code Authorization} header value; throws 401 naming what is wrong. */
    public void check(String authorization) {
        if (keys.isEmpty()) return;
        if (authorization == null || authorization.isBlank()) {
            throw ApiException.unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.");
        }
        if (!authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
            throw ApiException.unauthorized("The Authorization header must read 'Bearer <key>'.");
        }
        byte[] given = authorization.substring(7).trim().getBytes(StandardCharsets.UTF_8);
        boolean ok = false;
        // Constant time per key, and every key is compared, so timing does not reveal which prefix matched.
        for (byte[] k : keys) ok |= MessageDigest.isEqual(k, given);
        if (!ok) throw ApiException.unauthorized("Incorrect API key provided.");
    }
}
