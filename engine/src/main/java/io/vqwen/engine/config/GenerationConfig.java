package io.vqwen.engine.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;

/** generation_config.json: the EOS ids generation stops on. */
public record GenerationConfig(Set<Integer> eosTokenIds, int padTokenId) {
    public static GenerationConfig load(Path modelDir, Qwen3Config text) throws IOException {
        Path file = modelDir.resolve("generation_config.json");
        JsonNode n = Files.isRegularFile(file) ? new ObjectMapper().readTree(file.toFile()) : null;
        Set<Integer> eos = new LinkedHashSet<>();
        JsonNode e = n == null ? null : n.get("eos_token_id");
        if (e != null && e.isArray()) e.forEach(x -> eos.add(x.asInt()));
        else if (e != null && e.isNumber()) eos.add(e.asInt());
        if (eos.isEmpty()) eos.add(151645); // Qwen3's <|im_end|>
        return new GenerationConfig(Set.copyOf(eos), n == null ? 151643 : n.path("pad_token_id").asInt(151643));
    }
}
