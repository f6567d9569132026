package io.vqwen.gateway;

import io.vqwen.gateway.mesh.Goldens;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.engine.text.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class TokenBytesTest {
    static TokenBytes bytes;
    static Tokenizer tokenizer;

    @BeforeAll
    static void load() throws Exception {
        bytes = TokenBytes.load(Goldens.MODEL);
        tokenizer = Tokenizer.load(Goldens.MODEL);
    }

    private static byte[] join(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int id : ids) out.writeBytes(bytes.of(id));
        return out.toByteArray();
    }

    @Test
    void tokenBytesConcatenateToTheGoldenText() {
        for (String run : new String[] {"image", "image2"}) {
            Goldens.Run g = Goldens.golden(run);
            assertEquals(g.text(), new String(join(g.ids()), StandardCharsets.UTF_8), run);
        }
        int[] text = Goldens.golden("text").ids();
        assertEquals(tokenizer.decode(text), new String(join(text), StandardCharsets.UTF_8));
    }

    @Test
    void aCharacterSplitAcrossTokensKeepsItsBytes() {
        String emoji = "sea \uD83C\uDF0A";
        int[] ids = tokenizer.encode(emoji);
        assertArrayEquals(emoji.getBytes(StandardCharsets.UTF_8), join(ids));
        // Decoded alone, a partial token is U+FFFD; its bytes are what OpenAI's logprobs.bytes is for.
        boolean partial = false;
        for (int id : ids) partial |= tokenizer.tokenText(id).contains("\uFFFD");
        assertTrue(partial, "the wave emoji should span byte-level tokens");
    }

    @Test
    void specialTokensAreTheirLiteralText() {
        assertEquals("<|im_end|>", new String(bytes.of(151645), StandardCharsets.UTF_8));
        assertEquals("<image>", new String(bytes.of(151669), StandardCharsets.UTF_8));
    }
}
