package io.vqwen.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The packaged fatbin was built from the kernel sources as they are now: CI has no nvcc, so a kernel edit without
 * scripts/gpu/build-kernels.sh would otherwise ship the old kernels. Runs everywhere, no GPU needed.
 */
class KernelImageTest {
    static Path cudaSources() {
        Path p = Path.of("").toAbsolutePath();
        for (Path d = p; d != null; d = d.getParent()) {
            Path c = d.resolve("cuda/src/main/cuda");
            if (Files.isDirectory(c)) return c;
            if (d.resolve("src/main/cuda").toFile().isDirectory()) return d.resolve("src/main/cuda");
        }
        throw new IllegalStateException("cuda/src/main/cuda not found above " + p);
    }

    /** As scripts/gpu/kernel-hash.sh: name + "\n" + bytes of each *.cu/*.cuh in byte order, then nvcc.flags. */
    static String sourceHash(Path dir) throws Exception {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(f -> f.toString().endsWith(".cu") || f.toString().endsWith(".cuh"))
                    .sorted((a, b) -> compareBytes(a.getFileName().toString(), b.getFileName().toString())).toList();
        }
        for (Path f : files) {
            sha.update((f.getFileName().toString() + "\n").getBytes(StandardCharsets.UTF_8));
            sha.update(Files.readAllBytes(f));
        }
        sha.update(Files.readAllBytes(dir.resolve("nvcc.flags")));
        return java.util.HexFormat.of().formatHex(sha.digest());
    }

    private static int compareBytes(String a, String b) {
        return java.util.Arrays.compareUnsigned(a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = CudaBackend.class.getResourceAsStream(name)) {
            if (in == null) throw new AssertionError(name + " is missing: run scripts/gpu/build-kernels.sh");
            return in.readAllBytes();
        }
    }

    @Test
    void packagedFatbinMatchesTheKernelSourcesAndFlags() throws Exception {
        String recorded = new String(resource("kernels.fatbin.sha256"), StandardCharsets.UTF_8).trim();
        assertEquals(sourceHash(cudaSources()), recorded,
                "kernels.fatbin is stale: the .cu sources or nvcc.flags changed since it was built; run scripts/gpu/build-kernels.sh");
    }

    @Test
    void fatbinIsAFatBinaryWithHopperCode() throws Exception {
        byte[] f = resource("kernels.fatbin");
        // fatbinary magic 0xBA55ED50 (little-endian), then sm_90 code and compute_90 PTX for newer GPUs
        assertTrue(f.length > 1024 && (f[0] & 0xff) == 0x50 && (f[1] & 0xff) == 0xED && (f[2] & 0xff) == 0x55 && (f[3] & 0xff) == 0xBA,
                "not a fatbin");
        String flags = Files.readString(cudaSources().resolve("nvcc.flags"));
        assertTrue(flags.contains("code=[sm_90,compute_90]"), "flags build sm_90 code plus PTX: " + flags);
    }

    @Test
    void cublasIsLookedUpInTheConfiguredPlaceFirst() {
        String old = System.getProperty("vqwen.cublas.path");
        try {
            System.setProperty("vqwen.cublas.path", "/opt/custom/libcublas.so.13");
            assertEquals(Path.of("/opt/custom/libcublas.so.13"), Cublas.candidates().getFirst());
            assertTrue(Cublas.candidates().contains(Path.of("/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcublas.so.13")));
        } finally {
            if (old == null) System.clearProperty("vqwen.cublas.path");
            else System.setProperty("vqwen.cublas.path", old);
        }
    }
}
