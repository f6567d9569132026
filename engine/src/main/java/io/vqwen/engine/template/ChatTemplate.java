package io.vqwen.engine.template;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A model's Jinja chat template, rendered as transformers' {@code apply_chat_template} renders it: jinja2's
 * ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with loopcontrols, a {@code tojson} filter
 * that is {@code json.dumps(x, ensure_ascii=False)}, and the {@code raise_exception} / {@code strftime_now} globals.
 * Anything this engine does not implement fails with a {@link TemplateException} instead of rendering differently.
 *
 * <p>Instances are immutable and may render concurrently.
 */
public final class ChatTemplate {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** tokenizer_config.json special tokens transformers passes to the template (special_tokens_map). */
    private static final List<String> SPECIAL_TOKENS = List.of("bos_token", "eos_token", "unk_token", "pad_token");

    private final Source source;
    private final List<Ast.Node> body;
    private final Map<String, Object> defaults;

    private ChatTemplate(String text, Map<String, Object> defaults) {
        this.source = new Source(text);
        this.body = Parser.parse(source, Lexer.tokenize(source, true, true));
        this.defaults = Map.copyOf(defaults);
    }

    /** Parses eagerly; syntax errors, unknown tags, filters and tests throw {@link TemplateException}. */
    public static ChatTemplate of(String source) {
        return new ChatTemplate(source, Map.of());
    }

    /**
     * Finds the template in a model dir: chat_template.jinja, else chat_template.json ({"chat_template": "..."}),
     * else the "chat_template" entry of tokenizer_config.json (a string, or a list of {name, template} of which
     * "default" is taken). The special tokens of tokenizer_config.json (bos_token, eos_token, ...) become default
     * variables, as transformers passes them.
     *
     * @throws IllegalArgumentException naming the dir if it holds no chat template
     */
    public static ChatTemplate load(Path modelDir) throws IOException {
        Path tokenizerConfig = modelDir.resolve("tokenizer_config.json");
        JsonNode config = Files.isRegularFile(tokenizerConfig) ? JSON.readTree(tokenizerConfig.toFile()) : null;
        Map<String, Object> defaults = new HashMap<>();
        if (config != null) {
            for (String name : SPECIAL_TOKENS) {
                JsonNode token = config.get(name);
                // a token is a string or a serialized AddedToken {"content": ...}; null means the model has none
                if (token != null && token.isObject()) token = token.get("content");
                if (token != null && token.isTextual()) defaults.put(name, token.asText());
            }
        }
        return new ChatTemplate(findTemplate(modelDir, config), defaults);
    }

    private static String findTemplate(Path dir, JsonNode tokenizerConfig) throws IOException {
        Path jinja = dir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) return Files.readString(jinja);
        Path json = dir.resolve("chat_template.json");
        if (Files.isRegularFile(json)) {
            JsonNode t = JSON.readTree(json.toFile()).get("chat_template");
            if (t == null || !t.isTextual()) {
                throw new IllegalArgumentException(json + " has no string \"chat_template\" entry");
            }
            return t.asText();
        }
        JsonNode t = tokenizerConfig == null ? null : tokenizerConfig.get("chat_template");
        if (t != null && t.isTextual()) return t.asText();
        if (t != null && t.isArray()) {
            List<String> names = new ArrayList<>();
            for (JsonNode entry : t) {
                names.add(entry.path("name").asText());
                if ("default".equals(entry.path("name").asText()) && entry.path("template").isTextual()) {
                    return entry.get("template").asText();
                }
            }
            throw new IllegalArgumentException("tokenizer_config.json in " + dir
                    + " lists chat templates " + names + " but none named \"default\"");
        }
        throw new IllegalArgumentException("no chat template in " + dir
                + " (looked for chat_template.jinja, chat_template.json and \"chat_template\" in tokenizer_config.json)");
    }

    /**
     * Renders a conversation.
     *
     * @param messages plain Java data: Map&lt;String,Object&gt;, List&lt;Object&gt;, String, Number, Boolean, null (as
     *     Jackson would produce from JSON)
     * @param addGenerationPrompt whether to open the assistant turn at the end
     * @param extraVariables further template variables, e.g. {@code enable_thinking}, {@code tools},
     *     {@code bos_token}; they override the defaults from {@link #load}
     * @throws TemplateException when the template fails, including {@code raise_exception(...)} from the template
     */
    public String render(List<?> messages, boolean addGenerationPrompt, Map<String, ?> extraVariables) {
        Objects.requireNonNull(messages, "messages");
        Map<String, Object> vars = new LinkedHashMap<>();
        // transformers always passes tools and documents (None unless given)
        vars.put("tools", null);
        vars.put("documents", null);
        vars.putAll(defaults);
        if (extraVariables != null) {
            extraVariables.forEach((k, v) -> vars.put(k, Py.fromJava(v, k)));
        }
        vars.put("messages", Py.fromJava(messages, "messages"));
        vars.put("add_generation_prompt", addGenerationPrompt);
        return Interpreter.render(source, body, vars);
    }
}
