package io.vqwen.engine.backend;

import io.vqwen.engine.cpu.CpuBackend;
import java.lang.reflect.InvocationTargetException;

/**
 * Creates a backend by name from configuration. The CUDA backend lives in the vqwen-cuda module and is loaded
 * reflectively, so CPU-only deployments need neither JCuda nor a GPU.
 */
public final class Backends {
    private Backends() {
    }

    public static Backend create(String name, int device) {
        return switch (name) {
            case "cpu" -> new CpuBackend();
            case "cuda" -> cuda(device);
            default -> throw new IllegalArgumentException("unknown backend '" + name + "' (expected cpu or cuda)");
        };
    }

    private static Backend cuda(int device) {
        try {
            Class<?> c = Class.forName("io.vqwen.cuda.CudaBackend");
            return (Backend) c.getConstructor(int.class).newInstance(device);
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("backend 'cuda' needs the vqwen-cuda module on the classpath", e);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            throw new IllegalStateException("backend 'cuda' (device " + device + ") failed to start: " + cause.getMessage(), cause);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("backend 'cuda' could not be created: " + e, e);
        }
    }
}
