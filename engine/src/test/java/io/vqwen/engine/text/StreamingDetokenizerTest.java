package io.vqwen.engine.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.vqwen.engine.Fixture;
import io.vqwen.engine.safetensors.SafeTensors;
import org.junit.jupiter.api.Test;

class StreamingDetokenizerTest {
    @Test
    void streamedDeltasNeverSplitACharacterAndAddUpToTheText() throws Exception {
        try (Tokenizer tok = Tokenizer.load(Fixture.tiny().dir())) {
            String text = "Hello 🙂👍🏽 שלום עולם, 世界 and café — naïve 🇫🇷!";
            int[] ids = tok.encode(text);
            StreamingDetokenizer s = tok.stream();
            StringBuilder out = new StringBuilder();
            for (int id : ids) {
                String d = s.add(id);
                assertFalse(d.contains("\uFFFD"), "a delta held half a character: " + d);
                out.append(d);
            }
            out.append(s.flush());
            assertEquals(text, out.toString());
        }
    }

    @Test
    void fixturePromptsTokenizeExactlyAsTransformers() throws Exception {
        try (Tokenizer tok = Tokenizer.load(Fixture.tiny().dir()); SafeTensors g = Fixture.tiny().golden()) {
            int[] text = tok.encode("<|im_start|>user\nWrite one sentence about the sea.<|im_end|>\n<|im_start|>assistant\n");
            assertArrayEquals(g.tensor("text_input_ids").toIntArray(), text);
        }
    }
}
