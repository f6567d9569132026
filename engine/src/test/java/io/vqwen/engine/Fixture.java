package io.vqwen.engine;

import io.vqwen.engine.safetensors.SafeTensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A fixture checkpoint in testdata/ with its golden tensors from transformers. */
public record Fixture(String name, Path dir) {
    public static Path repoRoot() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.isDirectory(p.resolve("testdata"))) p = p.getParent();
        if (p == null) throw new IllegalStateException("testdata/ not found above " + Path.of("").toAbsolutePath());
        return p;
    }

    /** Every fixture directory with goldens: tiny-llava (the bundled model) and any other generated one. */
    public static List<Fixture> all() {
        List<Fixture> out = new ArrayList<>();
        for (String n : List.of("tiny-llava", "tiny-llava-b")) {
            Path d = repoRoot().resolve("testdata").resolve(n);
            if (Files.isRegularFile(d.resolve("golden.safetensors"))) out.add(new Fixture(n, d));
        }
        return out;
    }

    public static Fixture tiny() {
        return all().getFirst();
    }

    public SafeTensors golden() {
        try {
            return SafeTensors.open(dir.resolve("golden.safetensors"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public String toString() {
        return name;
    }

    public static double relL2(float[] out, float[] ref) {
        if (out.length != ref.length) throw new AssertionError("length " + out.length + " != " + ref.length);
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = out[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }
}
