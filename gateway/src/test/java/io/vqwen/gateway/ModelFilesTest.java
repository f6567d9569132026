package io.vqwen.gateway;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.engine.model.ModelSources;
import io.vqwen.engine.text.Tokenizer;
import io.vqwen.gateway.mesh.Goldens;
import java.lang.reflect.Proxy;
import java.util.EnumSet;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The gateway on a synthetic model (the full-size benchmark, where no checkpoint exists): the model services report
 * the synthetic revision and widths, so the gateway must take the same from the shape, and its tokenizer from the
 * files the services borrow.
 */
class ModelFilesTest {
    /** Only servedModelName is read by ModelFiles. */
    static GatewayConfig config() {
        return (GatewayConfig) Proxy.newProxyInstance(GatewayConfig.class.getClassLoader(), new Class<?>[] {GatewayConfig.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("servedModelName")) return Optional.empty();
                    throw new UnsupportedOperationException(method.getName());
                });
    }

    @Test
    void syntheticModelTakesConfigAndRevisionFromItsShapeAndTheTokenizerFromTheFixture() throws Exception {
        String fixture = Goldens.MODEL.toString();
        ModelFiles m = new ModelFiles("synthetic:vqwen3-4b", fixture, config());
        try {
            // What the model services put in their Info, so the gateway's readiness check agrees with them.
            assertEquals(ModelSources.open("synthetic:vqwen3-4b", EnumSet.noneOf(io.vqwen.engine.model.Checkpoint.Part.class)).revision(),
                    m.revision());
            assertEquals(2560, m.config().textConfig().hiddenSize());
            assertEquals(576, m.config().imageTokensPerImage());
            assertEquals(Goldens.MODEL, m.dir());
            assertEquals("synthetic:vqwen3-4b", m.servedName());
            try (Tokenizer t = Tokenizer.load(Goldens.MODEL)) {
                String prompt = Goldens.goldenJson().get("text_prompt").asText();
                assertArrayEquals(t.encode(prompt), m.tokenizer().encode(prompt));
            }
        } finally {
            m.close();
        }
    }

    @Test
    void unknownSyntheticShapeIsRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new ModelFiles("synthetic:vqwen9-1t", Goldens.MODEL.toString(), config()));
        assertTrue(e.getMessage().contains("unknown shape 'vqwen9-1t'"), e.getMessage());
    }
}
