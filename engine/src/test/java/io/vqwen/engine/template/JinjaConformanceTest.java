package io.vqwen.engine.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Jinja semantics case by case against Python's jinja2: jinja2-conformance.json holds small templates with what
 * jinja2 3.1.6 (configured as transformers configures it) rendered or raised; see make_jinja2_conformance.py.
 */
class JinjaConformanceTest {
    private static List<Map<String, Object>> cases() throws IOException {
        try (InputStream in = JinjaConformanceTest.class.getResourceAsStream("jinja2-conformance.json")) {
            return new ObjectMapper().readValue(in, new TypeReference<>() {
            });
        }
    }

    static Stream<Arguments> conformanceCases() throws IOException {
        return cases().stream().map(c -> Arguments.of(c.get("name"), c.get("template"), c));
    }

    private static String render(String template, Map<String, Object> ctx) {
        Map<String, Object> vars = new LinkedHashMap<>(ctx);
        Object messages = vars.remove("messages");
        boolean addGenerationPrompt = Boolean.TRUE.equals(vars.remove("add_generation_prompt"));
        return ChatTemplate.of(template).render(messages == null ? List.of() : (List<?>) messages, addGenerationPrompt, vars);
    }

    @SuppressWarnings("unchecked")
    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("conformanceCases")
    void behavesAsJinja2(String name, String template, Map<String, Object> c) {
        Map<String, Object> ctx = (Map<String, Object>) c.get("ctx");
        if (c.containsKey("expected")) {
            assertEquals(c.get("expected"), render(template, ctx));
        } else {
            // jinja2 raised (or renders something this engine refuses to imitate): we must fail loudly, not render
            TemplateException e = assertThrows(TemplateException.class, () -> render(template, ctx),
                    "jinja2: " + c.getOrDefault("error", c.get("unsupported")));
            assertFalse(e.getMessage().isBlank());
        }
    }

    @Test
    void coversRenderingAndErrors() throws IOException {
        List<Map<String, Object>> cases = cases();
        long rendered = cases.stream().filter(c -> c.containsKey("expected")).count();
        long errors = cases.stream().filter(c -> c.containsKey("error")).count();
        long refused = cases.stream().filter(c -> c.containsKey("unsupported")).count();
        assertTrue(rendered >= 150 && errors >= 50, rendered + " rendered, " + errors + " errors");
        assertTrue(refused <= 12, "deliberately unsupported constructs stay few: " + refused);
    }
}
