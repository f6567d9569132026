package io.vqwen.web;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.stream.Stream;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

/**
 * Debian's headless Chromium driven through Debian's chromedriver. Both binaries are named explicitly, so Selenium
 * Manager never runs and nothing is downloaded (CI machines cannot reach the browser download sites).
 */
final class Browser implements AutoCloseable {
    static final String CHROMIUM = System.getProperty("vqwen.chromium", "/usr/bin/chromium");
    static final String CHROMEDRIVER = System.getProperty("vqwen.chromedriver", "/usr/bin/chromedriver");

    final ChromeDriver driver;
    private final Path profile;

    Browser() {
        for (String bin : new String[] {CHROMIUM, CHROMEDRIVER}) {
            if (!Files.isExecutable(Path.of(bin))) {
                throw new IllegalStateException(bin + " is missing: install Debian's chromium and chromium-driver "
                        + "(scripts/test.sh does it with apt-get on CI).");
            }
        }
        System.setProperty("webdriver.chrome.driver", CHROMEDRIVER);
        try {
            profile = Files.createTempDirectory("vqwen-chromium-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM);
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--window-size=1280,1000", "--lang=en-US", "--log-level=3");
        // Chromium's own chatter (no D-Bus in a container, no GPU) goes to a file, not the test output.
        File log = Path.of("target", "chromedriver.log").toFile();
        log.getParentFile().mkdirs();
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(new File(CHROMEDRIVER))
                .withLogFile(log).build();
        driver = new ChromeDriver(service, options);
        driver.manage().window().setSize(new Dimension(1280, 1000));
        driver.manage().timeouts().scriptTimeout(Duration.ofSeconds(30));
    }

    @Override
    public void close() {
        try {
            driver.quit();
        } finally {
            try (Stream<Path> s = Files.walk(profile)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (IOException ignored) {
                // A leftover temp profile is harmless.
            }
        }
    }
}
