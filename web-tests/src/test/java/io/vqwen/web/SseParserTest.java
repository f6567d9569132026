package io.vqwen.web;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The page's SSE parser, run in Chromium on the page itself: the network may cut a stream anywhere, and the text
 * shown must not depend on where.
 */
class SseParserTest {
    private static Browser browser;

    @BeforeAll
    static void open() {
        browser = new Browser();
        Path page = WebPage.resources().resolve("index.html");
        browser.driver.get(page.toUri().toString());
    }

    @AfterAll
    static void close() {
        if (browser != null) browser.close();
    }

    @SuppressWarnings("unchecked")
    private static List<String> parse(String... pieces) {
        return (List<String>) browser.driver.executeScript("""
                const p = new window.vqwen.SseParser();
                const out = [];
                for (const piece of arguments[0]) out.push(...p.push(piece));
                return out;""", List.of(pieces));
    }

    private static final String STREAM = "data: {\"a\":1}\n\n: keep-alive comment\n\ndata: {\"b\":\"x y\"}\n\ndata: [DONE]\n\n";

    @Test
    void everySplitOfAStreamGivesTheSameEvents() {
        List<String> expected = List.of("{\"a\":1}", "{\"b\":\"x y\"}", "[DONE]");
        assertEquals(expected, parse(STREAM));
        for (int cut = 1; cut < STREAM.length(); cut++) {
            assertEquals(expected, parse(STREAM.substring(0, cut), STREAM.substring(cut)), "cut at " + cut);
        }
        // One character at a time, as a slow proxy might deliver it.
        assertEquals(expected, parse(STREAM.split("")));
    }

    @Test
    void crlfLinesMultiLineDataAndOtherFields() {
        assertEquals(List.of("{\"a\":1}", "line1\nline2", "nospace"),
                parse("data: {\"a\":1}\r\n\r\n", "event: x\r\nid: 7\r\ndata: line1\r\ndata: line2\r\n\r\n", "data:nospace\n\n"));
    }

    @Test
    void anEventWithoutItsBlankLineIsNotDeliveredYet() {
        assertEquals(List.of(), parse("data: {\"a\":1}\n"));
    }
}
