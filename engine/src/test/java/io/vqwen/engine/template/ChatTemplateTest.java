package io.vqwen.engine.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vqwen.engine.Fixture;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** ChatTemplate against renders made by transformers/jinja2 (testdata/chat-templates, the tiny-llava golden). */
class ChatTemplateTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static Path templates() {
        return Fixture.repoRoot().resolve("testdata/chat-templates");
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static Stream<Arguments> referenceCases() throws IOException {
        List<Map<String, Object>> cases = JSON.readValue(templates().resolve("cases.json").toFile(), new TypeReference<>() {
        });
        return cases.stream().map(c -> Arguments.of(c.get("name"), c.get("template"), c.get("ctx")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("referenceCases")
    void rendersEveryReferenceCaseByteForByte(String name, String templateFile, Map<String, Object> ctx) {
        Map<String, Object> vars = new LinkedHashMap<>(ctx);
        List<?> messages = (List<?>) vars.remove("messages");
        boolean addGenerationPrompt = Boolean.TRUE.equals(vars.remove("add_generation_prompt"));
        String expected = read(templates().resolve("expected").resolve(name + ".txt"));

        String rendered = ChatTemplate.of(read(templates().resolve(templateFile))).render(messages, addGenerationPrompt, vars);

        assertEquals(expected, rendered);
    }

    @Test
    void everyExpectedRenderHasACase() throws IOException {
        long cases = referenceCases().count();
        try (Stream<Path> files = Files.list(templates().resolve("expected"))) {
            assertEquals(files.filter(p -> p.toString().endsWith(".txt")).count(), cases);
        }
        assertTrue(cases >= 9, "cases.json holds the 9 reference conversations");
    }

    @Test
    void bundledModelTemplateRendersTheGoldenPrompts() throws IOException {
        Path model = Fixture.repoRoot().resolve("testdata/tiny-llava");
        JsonNode golden = JSON.readTree(model.resolve("golden.json").toFile());
        ChatTemplate template = ChatTemplate.load(model);

        List<Object> image = List.of(Map.of("role", "user", "content", List.of(
                Map.of("type", "image"), Map.of("type", "text", "text", "Describe this image in detail."))));
        List<Object> text = List.of(Map.of("role", "user", "content", golden.get("text_prompt").asText()));

        assertEquals(golden.get("rendered_prompt").asText(), template.render(image, true, Map.of()));
        assertEquals(golden.get("rendered_text_prompt").asText(), template.render(text, true, Map.of()));
    }

    // ---- loud failures

    @Test
    void unknownFilterFailsWhenParsedWithItsPosition() {
        TemplateException e = assertThrows(TemplateException.class, () -> ChatTemplate.of("Hi\n{{ name | shout }}"));
        assertEquals(2, e.line());
        assertEquals(11, e.column());
        assertTrue(e.getMessage().contains("No filter named 'shout'"), e.getMessage());
        assertTrue(e.getMessage().contains("{{ name | shout }}"), "quotes the construct: " + e.getMessage());
    }

    @Test
    void jinjaFilterThatIsNotImplementedFailsInsteadOfRenderingSomethingElse() {
        TemplateException e = assertThrows(TemplateException.class, () -> ChatTemplate.of("{{ x | urlize }}"));
        assertTrue(e.getMessage().contains("filter 'urlize' is not supported"), e.getMessage());
    }

    @Test
    void unknownAndUnsupportedTagsFail() {
        TemplateException unknown = assertThrows(TemplateException.class, () -> ChatTemplate.of("a\n  {% frobnicate x %}"));
        assertEquals(2, unknown.line());
        assertTrue(unknown.getMessage().contains("unknown tag 'frobnicate'"), unknown.getMessage());

        TemplateException include = assertThrows(TemplateException.class, () -> ChatTemplate.of("{% include 'x.jinja' %}"));
        assertTrue(include.getMessage().contains("'include' tag is not supported"), include.getMessage());

        TemplateException unclosed = assertThrows(TemplateException.class, () -> ChatTemplate.of("{% if x %}open"));
        assertTrue(unclosed.getMessage().contains("endif"), unclosed.getMessage());
    }

    @Test
    void qwen3TemplateRefusesListContentLikePython() {
        String source = read(templates().resolve("qwen3.jinja"));
        ChatTemplate qwen3 = ChatTemplate.of(source);
        List<Object> messages = List.of(Map.of("role", "user", "content",
                List.of(Map.of("type", "image"), Map.of("type", "text", "text", "What is this?"))));

        TemplateException e = assertThrows(TemplateException.class, () -> qwen3.render(messages, true, Map.of()));

        assertTrue(e.getMessage().contains("'list object' has no attribute 'startswith'"), e.getMessage());
        int expectedLine = (int) source.substring(0, source.indexOf("message.content.startswith")).lines().count();
        assertEquals(expectedLine, e.line(), "points at the template line calling startswith");
    }

    @Test
    void raiseExceptionSurfacesTheTemplatesOwnMessage() {
        ChatTemplate t = ChatTemplate.of("{% if messages|length == 0 %}{{ raise_exception('x') }}{% endif %}");
        TemplateException e = assertThrows(TemplateException.class, () -> t.render(List.of(), false, Map.of()));
        assertEquals("x", e.getMessage());
        assertEquals(1, e.line());
    }

    @Test
    void attributeOfAnUndefinedVariableFailsButPrintingItIsEmpty() {
        assertEquals("[]", ChatTemplate.of("[{{ missing }}]").render(List.of(), false, Map.of()));
        TemplateException e = assertThrows(TemplateException.class,
                () -> ChatTemplate.of("{{ missing.attr }}").render(List.of(), false, Map.of()));
        assertTrue(e.getMessage().contains("'missing' is undefined"), e.getMessage());
    }

    @Test
    void unsupportedValueTypeInMessagesIsRejected() {
        ChatTemplate t = ChatTemplate.of("{{ messages }}");
        List<Object> messages = List.of(Map.of("role", "user", "content", new StringBuilder("x")));
        assertThrows(IllegalArgumentException.class, () -> t.render(messages, false, Map.of()));
    }

    // ---- transformers' conventions

    @Test
    void generationBlocksRenderTheirBodyAsTransformersDoesWithoutAssistantMasks() {
        ChatTemplate t = ChatTemplate.of("{% for m in messages %}{% generation %}[{{ m }}]{% endgeneration %}{% endfor %}");
        assertEquals("[a][b]", t.render(List.of("a", "b"), false, Map.of()));
    }

    @Test
    void toolsAndDocumentsAreDefinedAsNoneUnlessGiven() {
        ChatTemplate t = ChatTemplate.of("{{ tools is defined }} {{ tools is none }} {{ documents is none }}");
        assertEquals("True True True", t.render(List.of(), false, Map.of()));
        assertEquals("True False True", t.render(List.of(), false, Map.of("tools", List.of())));
    }

    // ---- finding the template in a model dir

    @Test
    void loadPrefersJinjaFileThenJsonThenTokenizerConfig(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"chat_template": "from-config", "bos_token": "<s>", "eos_token": {"content": "</s>", "lstrip": false}}""");
        assertEquals("from-config", ChatTemplate.load(dir).render(List.of(), false, Map.of()));
        Files.writeString(dir.resolve("chat_template.json"), "{\"chat_template\": \"from-json\"}");
        assertEquals("from-json", ChatTemplate.load(dir).render(List.of(), false, Map.of()));
        Files.writeString(dir.resolve("chat_template.jinja"), "{{ bos_token }}|{{ eos_token }}");
        ChatTemplate t = ChatTemplate.load(dir);
        assertEquals("<s>|</s>", t.render(List.of(), false, Map.of()));
        assertEquals("[B]|</s>", t.render(List.of(), false, Map.of("bos_token", "[B]")));
    }

    @Test
    void loadTakesTheDefaultOfNamedTemplates(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "plain"}]}""");
        assertEquals("plain", ChatTemplate.load(dir).render(List.of(), false, Map.of()));
    }

    @Test
    void loadNamesTheDirWhenThereIsNoTemplate(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"</s>\"}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ChatTemplate.load(dir));
        assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
    }

    @Test
    void rendersConcurrentlyFromOneInstance() throws Exception {
        ChatTemplate t = ChatTemplate.of(read(templates().resolve("qwen3.jinja")));
        List<Object> messages = List.of(Map.of("role", "user", "content", "hi"));
        String once = t.render(messages, true, Map.of());
        List<Thread> threads = new ArrayList<>();
        List<String> results = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int i = 0; i < 4; i++) {
            Thread th = Thread.ofPlatform().start(() -> {
                for (int k = 0; k < 50; k++) results.add(t.render(messages, true, Map.of()));
            });
            threads.add(th);
        }
        for (Thread th : threads) th.join();
        assertEquals(200, results.size());
        assertTrue(results.stream().allMatch(once::equals));
    }
}
