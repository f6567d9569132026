package io.vqwen.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ApiKeysTest {
    @Test
    void noKeysMeansAuthOff() {
        ApiKeys off = new ApiKeys(Optional.empty());
        assertFalse(off.enabled());
        off.check(null);
        off.check("Bearer anything");
        assertFalse(new ApiKeys(Optional.of(List.of(" ", ""))).enabled(), "blank entries are no keys");
    }

    @Test
    void anyConfiguredKeyIsAcceptedAndEverythingElseIs401() {
        ApiKeys keys = new ApiKeys(Optional.of(List.of("sk-one", " sk-two ")));
        keys.check("Bearer sk-one");
        keys.check("bearer sk-two");
        for (String bad : new String[] {null, "", "sk-one", "Basic c2stb25l", "Bearer sk-on", "Bearer sk-one2"}) {
            ApiException e = assertThrows(ApiException.class, () -> keys.check(bad), String.valueOf(bad));
            assertEquals(401, e.status());
            assertEquals("invalid_api_key", e.code());
        }
    }
}
