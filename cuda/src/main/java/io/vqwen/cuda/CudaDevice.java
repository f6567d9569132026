package io.vqwen.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuGetErrorName;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD8Async;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemAllocHost;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.Map;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;

/**
 * One GPU through the JCuda driver API: its primary context (shared with cuBLAS, which uses the runtime API),
 * one stream that every op is ordered on, the module of our kernels, device memory and copies. Every driver call
 * is checked and a failure names the operation (llm.c's cudaCheck).
 */
final class CudaDevice implements AutoCloseable {
    /** A CUdeviceptr that reveals its address (for kernel arguments and cuBLAS). */
    static final class DevPtr extends CUdeviceptr {
        long address() {
            return getNativePointer() + getByteOffset();
        }
    }

    /** A CUstream that reveals its handle (cuBLAS takes it as a cudaStream_t). */
    static final class Stream extends CUstream {
        long handle() {
            return getNativePointer();
        }
    }

    /** Page-locked host memory: host-to-device copies from it run at full link speed and truly asynchronously. */
    static final class HostPtr extends Pointer {
        long address() {
            return getNativePointer();
        }
    }

    /** A growable page-locked staging buffer; {@link #stage} waits until the copy that last read it has run. */
    final class Staging {
        private HostPtr ptr;
        private MemorySegment segment = MemorySegment.NULL;
        private final CUevent copied = new CUevent();

        Staging() {
            check(cuEventCreate(copied, 0x2 /* CU_EVENT_DISABLE_TIMING */), "cuEventCreate");
            check(cuEventRecord(copied, stream), "cuEventRecord");
        }

        /** The buffer, at least {@code bytes} long, free to overwrite. */
        MemorySegment stage(long bytes) {
            check(cuEventSynchronize(copied), "cuEventSynchronize(staging)");
            if (segment.byteSize() < bytes) {
                if (ptr != null) cuMemFreeHost(ptr);
                ptr = new HostPtr();
                check(cuMemAllocHost(ptr, bytes), "cuMemAllocHost(" + bytes + " bytes)");
                segment = MemorySegment.ofAddress(ptr.address()).reinterpret(bytes);
            }
            return segment;
        }

        /** Copies the first {@code bytes} of the buffer to dst, asynchronously. */
        void upload(CUdeviceptr dst, long bytes) {
            check(cuMemcpyHtoDAsync(dst, ptr, bytes, stream), "cuMemcpyHtoDAsync(pinned, " + bytes + " bytes)");
            check(cuEventRecord(copied, stream), "cuEventRecord");
        }

        void close() {
            cuEventSynchronize(copied);
            cuEventDestroy(copied);
            if (ptr != null) cuMemFreeHost(ptr);
        }
    }

    final int index;
    final String name;
    final int multiprocessors;
    final int computeMajor, computeMinor;
    final long totalMemory;
    final int driverVersion;
    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    final Stream stream = new Stream();
    private final CUmodule module = new CUmodule();
    private final Map<String, CUfunction> functions = new HashMap<>();
    // Kernel arguments: 8-byte slots in one direct buffer, and a void** array pointing at the slots (the driver
    // copies the values at launch, so both are reused for every launch).
    private final ByteBuffer argValues = ByteBuffer.allocateDirect(64 * 8).order(ByteOrder.nativeOrder());
    private final Pointer kernelParams;
    // -Dvqwen.cuda.syncEachLaunch=true: synchronise after every launch outside graph capture, so that a kernel
    // fault is reported by the launch that caused it (a debugging aid; it costs the overlap of host and device).
    private static final boolean SYNC_EACH_LAUNCH = Boolean.getBoolean("vqwen.cuda.syncEachLaunch");
    boolean capturing;
    // Whose context is current on each thread: several devices may be driven from one thread.
    private static final ThreadLocal<CudaDevice> CURRENT = new ThreadLocal<>();

    static void check(int result, String op) {
        if (result != CUresult.CUDA_SUCCESS) {
            String[] name = new String[1];
            cuGetErrorName(result, name);
            throw new CudaException("CUDA " + op + " failed: " + (name[0] != null ? name[0] : "error") + " (" + result + ")");
        }
    }

    CudaDevice(int index, byte[] fatbin) {
        this.index = index;
        check(cuInit(0), "cuInit");
        int[] count = {0};
        check(cuDeviceGetCount(count), "cuDeviceGetCount");
        if (index < 0 || index >= count[0]) {
            throw new CudaException("CUDA device " + index + " does not exist (" + count[0] + " device(s) visible)");
        }
        check(cuDeviceGet(device, index), "cuDeviceGet(" + index + ")");
        byte[] nameBytes = new byte[256];
        check(cuDeviceGetName(nameBytes, nameBytes.length, device), "cuDeviceGetName");
        int len = 0;
        while (len < nameBytes.length && nameBytes[len] != 0) len++;
        name = new String(nameBytes, 0, len, java.nio.charset.StandardCharsets.UTF_8);
        multiprocessors = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        computeMajor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        computeMinor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        if (computeMajor < 9) {
            throw new CudaException("CUDA device " + index + " (" + name + ") has compute capability " + computeMajor + "." + computeMinor
                    + "; the vqwen kernels are built for sm_90 (Hopper) and newer");
        }
        long[] mem = {0};
        check(cuDeviceTotalMem(mem, device), "cuDeviceTotalMem");
        totalMemory = mem[0];
        int[] v = {0};
        check(cuDriverGetVersion(v), "cuDriverGetVersion");
        driverVersion = v[0];
        // The primary context is the one the CUDA runtime (and so cuBLAS) uses: both sides then share memory.
        check(cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
        makeCurrent();
        check(cuStreamCreate(stream, 0), "cuStreamCreate");
        check(cuModuleLoadData(module, fatbin), "cuModuleLoadData(kernels.fatbin)");
        ByteBuffer ptrs = ByteBuffer.allocateDirect(64 * 8).order(ByteOrder.nativeOrder());
        long base = MemorySegment.ofBuffer(argValues).address();
        for (int i = 0; i < 64; i++) ptrs.putLong(i * 8, base + i * 8L);
        kernelParams = Pointer.to(ptrs);
    }

    private int attribute(int attr) {
        int[] v = {0};
        check(cuDeviceGetAttribute(v, attr, device), "cuDeviceGetAttribute(" + attr + ")");
        return v[0];
    }

    /** The context must be current on whichever thread calls in; cheap after the first call per thread. */
    void makeCurrent() {
        if (CURRENT.get() != this) {
            check(cuCtxSetCurrent(context), "cuCtxSetCurrent");
            CURRENT.set(this);
        }
    }

    CUfunction function(String kernel) {
        return functions.computeIfAbsent(kernel, k -> {
            CUfunction f = new CUfunction();
            check(cuModuleGetFunction(f, module, k), "cuModuleGetFunction(" + k + ")");
            return f;
        });
    }

    /**
     * Launches a kernel on the stream. Each argument is one 8-byte slot: pointers and 64-bit integers as they are,
     * 32-bit ints in the low half, floats as {@link #f(float)}.
     */
    void launch(String kernel, int gx, int gy, int gz, int bx, int by, int bz, long... args) {
        CUfunction f = function(kernel);
        for (int i = 0; i < args.length; i++) argValues.putLong(i * 8, args[i]);
        check(cuLaunchKernel(f, gx, gy, gz, bx, by, bz, 0, stream, kernelParams, null), "cuLaunchKernel(" + kernel + ")");
        if (SYNC_EACH_LAUNCH && !capturing) check(cuStreamSynchronize(stream), "kernel " + kernel + " (grid " + gx + "x" + gy + "x" + gz + ")");
    }

    static long f(float v) {
        return Float.floatToRawIntBits(v) & 0xffffffffL;
    }

    // ---- memory --------------------------------------------------------------------------------------------

    DevPtr alloc(long bytes, String what) {
        DevPtr p = new DevPtr();
        int r = cuMemAlloc(p, Math.max(bytes, 1));
        if (r == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
            long[] free = {0}, total = {0};
            cuMemGetInfo(free, total);
            throw new CudaException("CUDA out of memory allocating " + bytes + " bytes for " + what + " on device " + index
                    + " (" + free[0] / (1 << 20) + " MiB free of " + total[0] / (1 << 20) + " MiB)");
        }
        check(r, "cuMemAlloc(" + bytes + " bytes for " + what + ")");
        return p;
    }

    void free(DevPtr p) {
        check(cuMemFree(p), "cuMemFree");
    }

    long freeMemory() {
        long[] free = {0}, total = {0};
        check(cuMemGetInfo(free, total), "cuMemGetInfo");
        return free[0];
    }

    /** Host to device, ordered on the stream; the host data is staged before the call returns. */
    void upload(CUdeviceptr dst, Pointer src, long bytes) {
        check(cuMemcpyHtoDAsync(dst, src, bytes, stream), "cuMemcpyHtoDAsync(" + bytes + " bytes)");
    }

    /** Device to host after all queued work (synchronous copy). */
    void download(Pointer dst, CUdeviceptr src, long bytes) {
        synchronize();
        check(cuMemcpyDtoH(dst, src, bytes), "cuMemcpyDtoH(" + bytes + " bytes)");
    }

    void copy(CUdeviceptr dst, CUdeviceptr src, long bytes) {
        check(cuMemcpyDtoDAsync(dst, src, bytes, stream), "cuMemcpyDtoDAsync(" + bytes + " bytes)");
    }

    void zero(CUdeviceptr dst, long bytes) {
        check(cuMemsetD8Async(dst, (byte) 0, bytes, stream), "cuMemsetD8Async(" + bytes + " bytes)");
    }

    void synchronize() {
        check(cuStreamSynchronize(stream), "cuStreamSynchronize");
    }

    @Override
    public void close() {
        makeCurrent();
        cuStreamSynchronize(stream);
        cuModuleUnload(module);
        cuStreamDestroy(stream);
        cuDevicePrimaryCtxRelease(device);
    }
}
