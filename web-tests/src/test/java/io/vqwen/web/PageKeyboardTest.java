package io.vqwen.web;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.openqa.selenium.By;
import org.openqa.selenium.Keys;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.interactions.Actions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * The page without a server (opened from its file): every control has a name a screen reader can say, Tab reaches
 * them in reading order, and Ctrl+Enter in the prompt sends. Requests fail here, which the page must say plainly.
 */
class PageKeyboardTest {
    private static Browser browser;

    @BeforeAll
    static void open() {
        browser = new Browser();
        browser.driver.get(WebPage.resources().resolve("index.html").toUri().toString());
    }

    @AfterAll
    static void close() {
        if (browser != null) browser.close();
    }

    @Test
    void everyControlHasAnAccessibleName() {
        assertEquals(List.of(), unnamedControls("main"), "controls without an accessible name");
        assertEquals("Image", browser.driver.findElement(By.id("image")).getAccessibleName());
        assertEquals("Max tokens", browser.driver.findElement(By.id("max-tokens")).getAccessibleName());
        // The API key dialog, as a 401 opens it.
        browser.driver.executeScript("document.getElementById('key-dialog').showModal()");
        try {
            assertEquals(List.of(), unnamedControls("#key-dialog"), "dialog controls without an accessible name");
            assertEquals("API key", browser.driver.findElement(By.id("key-input")).getAccessibleName());
        } finally {
            browser.driver.executeScript("document.getElementById('key-dialog').close()");
        }
    }

    /** Ids of the visible controls under {@code scope} that a screen reader could not name. */
    private static List<String> unnamedControls(String scope) {
        List<String> unnamed = new ArrayList<>();
        for (WebElement e : browser.driver.findElements(By.cssSelector(scope + " :is(input, textarea, button, select, output)"))) {
            // Hidden controls are out of the accessibility tree until shown; the file input is hidden only visually.
            if (!e.isDisplayed() && !"image".equals(e.getDomAttribute("id"))) continue;
            String name = e.getAccessibleName();
            if (name == null || name.isBlank()) unnamed.add(e.getDomAttribute("id"));
        }
        assertFalse(browser.driver.findElements(By.cssSelector(scope + " :is(input, textarea, button)")).isEmpty(), scope);
        return unnamed;
    }

    @Test
    void tabReachesTheControlsInReadingOrder() {
        browser.driver.findElement(By.tagName("body")).click();
        List<String> order = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            // Keys to the page, not to an element: sendKeys on the file input would be taken as a file name.
            new Actions(browser.driver).sendKeys(Keys.TAB).perform();
            String id = browser.driver.switchTo().activeElement().getDomAttribute("id");
            if (id == null || order.contains(id)) break; // past the last control, or wrapped around
            order.add(id);
        }
        // Stop is disabled until an answer streams, and the key and clear-image buttons are hidden: Tab skips them.
        assertEquals(List.of("image", "prompt", "max-tokens", "temperature", "send", "timings-summary", "job-submit"), order);
    }

    @Test
    void ctrlEnterInThePromptSendsAndAnUnreachableServerIsSaidPlainly() {
        WebElement prompt = browser.driver.findElement(By.id("prompt"));
        prompt.click();
        prompt.sendKeys(Keys.chord(Keys.CONTROL, Keys.ENTER));
        WebElement error = browser.driver.findElement(By.id("error"));
        new WebDriverWait(browser.driver, java.time.Duration.ofSeconds(10)).until(d -> error.isDisplayed());
        assertTrue(error.getText().startsWith("Cannot reach the server"), error.getText());
        assertEquals("error", browser.driver.findElement(By.id("answer")).getDomAttribute("data-state"));
        assertFalse(prompt.getDomProperty("value").contains("\n"), "Ctrl+Enter did not add a line");
    }
}
