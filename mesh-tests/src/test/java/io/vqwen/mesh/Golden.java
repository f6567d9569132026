package io.vqwen.mesh;

import io.vqwen.cli.mesh.MeshLayout;
import io.vqwen.engine.safetensors.SafeTensors;
import io.vqwen.proto.v1.GenerateChunk;
import io.vqwen.proto.v1.GenerateRequest;
import io.vqwen.proto.v1.SamplingParams;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/** The bundled fixture's reference tensors (transformers 5.17, float32 from the bf16 weights) and small helpers. */
final class Golden {
    static final Path REPO = MeshLayout.findRepo();
    static final Path MODEL = REPO.resolve("testdata/tiny-llava");
    static final Path MODEL_B = REPO.resolve("testdata/tiny-llava-b");

    private Golden() {
    }

    static float[] floats(String name) {
        try (SafeTensors st = SafeTensors.open(MODEL.resolve("golden.safetensors"))) {
            return st.tensor(name).toFloatArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static int[] ints(String name) {
        try (SafeTensors st = SafeTensors.open(MODEL.resolve("golden.safetensors"))) {
            return st.tensor(name).toIntArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] file(String name) {
        try {
            return Files.readAllBytes(MODEL.resolve(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** ||out - ref|| / ||ref||. */
    static double relL2(float[] out, float[] ref) {
        if (out.length != ref.length) throw new AssertionError("length " + out.length + " != " + ref.length);
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = out[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }

    static GenerateRequest.Builder greedy(int[] prompt, int maxTokens) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setMaxTokens(maxTokens).setSampling(SamplingParams.newBuilder().setTemperature(0));
        for (int id : prompt) b.addPromptTokenIds(id);
        return b;
    }

    /** Every chunk of a stream. */
    static List<GenerateChunk> drain(Iterator<GenerateChunk> it) {
        List<GenerateChunk> out = new ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }

    static int[] tokenIds(List<GenerateChunk> chunks) {
        return chunks.stream().flatMap(c -> c.getTokenIdsList().stream()).mapToInt(Integer::intValue).toArray();
    }

    static GenerateChunk last(List<GenerateChunk> chunks) {
        return chunks.getLast();
    }
}
