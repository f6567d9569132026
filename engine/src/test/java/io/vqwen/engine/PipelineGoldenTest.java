package io.vqwen.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vqwen.engine.cpu.CpuBackend;
import io.vqwen.engine.generate.DecoderOptions;
import io.vqwen.engine.generate.GenerationParams;
import io.vqwen.engine.model.Checkpoint;
import io.vqwen.engine.safetensors.SafeTensors;
import io.vqwen.engine.text.Prompt;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The whole in-process pipeline from files, as the CLI runs it: chat template + tokenizer -> input_ids exact;
 * image bytes -> PIL-exact preprocessing -> CLIP -> projector -> decoder -> the golden ids and text.
 */
class PipelineGoldenTest {
    static List<Fixture> fixtures() {
        return Fixture.all();
    }

    static List<Object> userTurn(boolean image, String text) {
        return List.of(Map.of("role", "user", "content", image
                ? List.of(Map.of("type", "image"), Map.of("type", "text", "text", text))
                : List.of(Map.of("type", "text", "text", text))));
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void promptsImagesAndGenerationsMatchTransformers(Fixture f) throws Exception {
        JsonNode golden = new ObjectMapper().readTree(f.dir().resolve("golden.json").toFile());
        try (CpuBackend backend = new CpuBackend(); Checkpoint ckpt = Checkpoint.open(f.dir()); SafeTensors g = f.golden();
             LlavaEngine engine = new LlavaEngine(ckpt, f.dir(), backend, new DecoderOptions(4, 2048, 256, 16, 1024, 8), 40_000_000)) {
            String prompt = golden.get("prompt").asText(), textPrompt = golden.get("text_prompt").asText();
            Prompt p = engine.prompts().build(userTurn(true, prompt), Map.of());
            assertEquals(golden.get("rendered_prompt").asText(), p.rendered());
            assertArrayEquals(g.tensor("input_ids").toIntArray(), p.ids(), "input_ids (image request)");
            Prompt t = engine.prompts().build(userTurn(false, textPrompt), Map.of());
            assertArrayEquals(g.tensor("text_input_ids").toIntArray(), t.ids(), "text_input_ids");

            int n = g.tensor("generated_ids").toIntArray().length;
            LlavaEngine.Result r1 = engine.generate(userTurn(true, prompt), Map.of(), List.of(Files.readAllBytes(f.dir().resolve("image.png"))),
                    n, GenerationParams.GREEDY, null);
            assertArrayEquals(g.tensor("generated_ids").toIntArray(), r1.tokenIds(), "generated_ids from image.png bytes");
            assertEquals(golden.get("generated_text").asText(), r1.text());
            LlavaEngine.Result r2 = engine.generate(userTurn(true, prompt), Map.of(), List.of(Files.readAllBytes(f.dir().resolve("image2.png"))),
                    n, GenerationParams.GREEDY, null);
            assertArrayEquals(g.tensor("image2_generated_ids").toIntArray(), r2.tokenIds(), "image2_generated_ids from image2.png bytes");
            assertEquals(golden.get("image2_generated_text").asText(), r2.text());
            int tn = g.tensor("text_generated_ids").toIntArray().length;
            LlavaEngine.Result r3 = engine.generate(userTurn(false, textPrompt), Map.of(), List.of(), tn, GenerationParams.GREEDY, null);
            assertArrayEquals(g.tensor("text_generated_ids").toIntArray(), r3.tokenIds(), "text_generated_ids");
        }
    }
}
