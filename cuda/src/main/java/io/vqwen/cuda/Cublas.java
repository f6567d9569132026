package io.vqwen.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * cuBLAS 13 through Java's Foreign Function & Memory API (JCublas is linked against cuBLAS 12 and does not load
 * with CUDA 13). bf16 inputs, float32 compute, on the backend's stream, with a fixed workspace so that products
 * can be captured in CUDA graphs. The library is found from {@code -Dvqwen.cublas.path}, {@code $VQWEN_CUBLAS},
 * {@code $CUDA_HOME}, or the standard install paths.
 */
final class Cublas implements AutoCloseable {
    static final int OP_N = 0, OP_T = 1;
    static final int R_16BF = 14, R_32F = 0;          // cudaDataType
    private static final int COMPUTE_32F = 68;          // cublasComputeType_t
    private static final int GEMM_DEFAULT = -1;         // cublasGemmAlgo_t
    private static final long WORKSPACE_BYTES = 32L << 20;

    private static final Linker LINKER = Linker.nativeLinker();
    private final Arena arena = Arena.ofShared();
    private final MethodHandle gemmEx, gemmBatchedEx, destroy;
    private final MemorySegment handle;
    private final MemorySegment alpha, beta; // host floats
    private final Path library;
    private final CudaDevice device;
    private final CudaDevice.DevPtr workspace;

    Cublas(CudaDevice device) {
        this.device = device;
        this.library = locate();
        SymbolLookup lookup;
        try {
            // cuBLAS needs cuBLASLt from the same directory; load it first so the dynamic linker finds it by soname.
            Path lt = library.resolveSibling(library.getFileName().toString().replace("libcublas.", "libcublasLt."));
            if (Files.isRegularFile(lt)) SymbolLookup.libraryLookup(lt, arena);
            lookup = SymbolLookup.libraryLookup(library, arena);
        } catch (IllegalArgumentException e) {
            throw new CudaException("cannot load cuBLAS from " + library + ": " + e.getMessage(), e);
        }
        MethodHandle create = handle(lookup, "cublasCreate_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        destroy = handle(lookup, "cublasDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        MethodHandle setStream = handle(lookup, "cublasSetStream_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        MethodHandle setWorkspace = handle(lookup, "cublasSetWorkspace_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
        gemmEx = handle(lookup, "cublasGemmEx", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        gemmBatchedEx = handle(lookup, "cublasGemmBatchedEx", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        alpha = arena.allocate(JAVA_FLOAT);
        beta = arena.allocate(JAVA_FLOAT);
        MemorySegment out = arena.allocate(ADDRESS);
        device.makeCurrent();
        check(call(create, out), "cublasCreate_v2");
        handle = out.get(ADDRESS, 0);
        check(call(setStream, handle, MemorySegment.ofAddress(device.stream.handle())), "cublasSetStream_v2");
        workspace = device.alloc(WORKSPACE_BYTES, "cuBLAS workspace");
        check(call(setWorkspace, handle, MemorySegment.ofAddress(workspace.address()), WORKSPACE_BYTES), "cublasSetWorkspace_v2");
    }

    Path library() {
        return library;
    }

    /** Candidate paths in order of preference. */
    static List<Path> candidates() {
        List<Path> c = new ArrayList<>();
        String prop = System.getProperty("vqwen.cublas.path");
        if (prop != null && !prop.isBlank()) c.add(Path.of(prop));
        Map<String, String> env = System.getenv();
        if (env.get("VQWEN_CUBLAS") != null) c.add(Path.of(env.get("VQWEN_CUBLAS")));
        for (String var : new String[] {"CUDA_HOME", "CUDA_PATH"}) {
            String home = env.get(var);
            if (home != null && !home.isBlank()) {
                c.add(Path.of(home, "targets/x86_64-linux/lib/libcublas.so.13"));
                c.add(Path.of(home, "lib64/libcublas.so.13"));
            }
        }
        c.add(Path.of("/usr/local/cuda/targets/x86_64-linux/lib/libcublas.so.13"));
        for (String v : new String[] {"13.2", "13.1", "13.0"}) {
            c.add(Path.of("/usr/local/cuda-" + v + "/targets/x86_64-linux/lib/libcublas.so.13"));
        }
        c.add(Path.of("/usr/local/cuda/lib64/libcublas.so.13"));
        c.add(Path.of("/usr/lib/x86_64-linux-gnu/libcublas.so.13"));
        // the pip wheel nvidia-cublas (e.g. beside PyTorch)
        c.add(Path.of("/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13"));
        return c;
    }

    static Path locate() {
        List<Path> c = candidates();
        for (Path p : c) if (Files.isRegularFile(p)) return p;
        throw new CudaException("cuBLAS 13 (libcublas.so.13) not found; set -Dvqwen.cublas.path=/path/to/libcublas.so.13 "
                + "or CUDA_HOME. Looked in: " + c);
    }

    private static MethodHandle handle(SymbolLookup lookup, String name, FunctionDescriptor fd) {
        MemorySegment sym = lookup.find(name).orElseThrow(() -> new CudaException("cuBLAS has no symbol " + name));
        return LINKER.downcallHandle(sym, fd);
    }

    private static int call(MethodHandle h, Object... args) {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (Throwable t) {
            throw new CudaException("cuBLAS call failed: " + t, t);
        }
    }

    private static String status(int s) {
        return switch (s) {
            case 1 -> "CUBLAS_STATUS_NOT_INITIALIZED";
            case 3 -> "CUBLAS_STATUS_ALLOC_FAILED";
            case 7 -> "CUBLAS_STATUS_INVALID_VALUE";
            case 8 -> "CUBLAS_STATUS_ARCH_MISMATCH";
            case 11 -> "CUBLAS_STATUS_MAPPING_ERROR";
            case 13 -> "CUBLAS_STATUS_EXECUTION_FAILED";
            case 14 -> "CUBLAS_STATUS_INTERNAL_ERROR";
            case 15 -> "CUBLAS_STATUS_NOT_SUPPORTED";
            case 16 -> "CUBLAS_STATUS_LICENSE_ERROR";
            default -> "cublasStatus " + s;
        };
    }

    private static void check(int s, String op) {
        if (s != 0) throw new CudaException("cuBLAS " + op + " failed: " + status(s) + " (" + s + ")");
    }

    /** Each pointer aligned to its element, every leading dimension at least the rows it spans (llm.c's checks). */
    private static void requireAligned(String op, long a, long b, long c, int elemA, int elemC) {
        if (a % elemA != 0 || b % elemA != 0 || c % elemC != 0) {
            throw new CudaException("cuBLAS " + op + ": misaligned operand (A 0x" + Long.toHexString(a) + ", B 0x"
                    + Long.toHexString(b) + ", C 0x" + Long.toHexString(c) + ")");
        }
    }

    /**
     * Column-major C(m, n) = alpha op(A) op(B) + beta C, A and B bf16, C bf16 or float32 (cType).
     */
    void gemm(int opA, int opB, int m, int n, int k, float a, long A, int lda, long B, int ldb, float b, long C, int cType, int ldc) {
        requireAligned("gemm", A, B, C, 2, cType == R_32F ? 4 : 2);
        alpha.set(JAVA_FLOAT, 0, a);
        beta.set(JAVA_FLOAT, 0, b);
        device.makeCurrent();
        int s;
        try {
            s = (int) gemmEx.invokeExact(handle, opA, opB, m, n, k, alpha, MemorySegment.ofAddress(A), R_16BF, lda,
                    MemorySegment.ofAddress(B), R_16BF, ldb, beta, MemorySegment.ofAddress(C), cType, ldc, COMPUTE_32F, GEMM_DEFAULT);
        } catch (Throwable t) {
            throw new CudaException("cublasGemmEx call failed: " + t, t);
        }
        check(s, "cublasGemmEx(m=" + m + ", n=" + n + ", k=" + k + ")");
    }

    /** Batched gemm over device arrays of device pointers (aType for A and B, cType for C). */
    void gemmBatched(int opA, int opB, int m, int n, int k, float a, long Aarray, int aType, int lda, long Barray, int ldb,
                     float b, long Carray, int cType, int ldc, int count) {
        alpha.set(JAVA_FLOAT, 0, a);
        beta.set(JAVA_FLOAT, 0, b);
        device.makeCurrent();
        int s;
        try {
            s = (int) gemmBatchedEx.invokeExact(handle, opA, opB, m, n, k, alpha, MemorySegment.ofAddress(Aarray), aType, lda,
                    MemorySegment.ofAddress(Barray), aType, ldb, beta, MemorySegment.ofAddress(Carray), cType, ldc, count, COMPUTE_32F,
                    GEMM_DEFAULT);
        } catch (Throwable t) {
            throw new CudaException("cublasGemmBatchedEx call failed: " + t, t);
        }
        check(s, "cublasGemmBatchedEx(m=" + m + ", n=" + n + ", k=" + k + ", batch=" + count + ")");
    }

    @Override
    public void close() {
        device.makeCurrent();
        call(destroy, handle);
        device.free(workspace);
        arena.close();
    }
}
