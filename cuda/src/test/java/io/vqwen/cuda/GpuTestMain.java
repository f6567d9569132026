package io.vqwen.cuda;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;

/**
 * Runs the CUDA module's tests (the classes named as arguments, or all) where there is no Maven (the GPU machine):
 * each test's outcome on one line, skip
 * reasons included, then JUnit's summary. Exit status 1 when a test failed, 2 when every GPU test was skipped.
 */
public final class GpuTestMain {
    public static void main(String[] args) {
        List<DiscoverySelector> classes = new ArrayList<>();
        for (String c : args.length > 0 ? args : new String[] {"KernelImageTest", "CudaOpsTest", "CudaGoldenTest"}) {
            classes.add(selectClass("io.vqwen.cuda." + c));
        }
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request().selectors(classes).build();
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        int[] skippedGpu = {0};
        TestExecutionListener lines = new TestExecutionListener() {
            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                if (!id.isTest() && result.getStatus() == TestExecutionResult.Status.SUCCESSFUL) return;
                String why = result.getThrowable().map(t -> ": " + t).orElse("");
                System.out.println("[" + result.getStatus() + "] " + id.getDisplayName() + " " + id.getUniqueId().replaceAll(".*class:io.vqwen.cuda.", "") + why);
                if (result.getStatus() == TestExecutionResult.Status.ABORTED) skippedGpu[0]++;
            }

            @Override
            public void executionSkipped(TestIdentifier id, String reason) {
                System.out.println("[SKIPPED] " + id.getDisplayName() + ": " + reason);
            }
        };
        Launcher launcher = LauncherFactory.create();
        launcher.execute(request, summary, lines);
        summary.getSummary().printTo(new PrintWriter(System.out));
        summary.getSummary().printFailuresTo(new PrintWriter(System.out), 25);
        long failed = summary.getSummary().getTotalFailureCount();
        System.exit(failed > 0 ? 1 : skippedGpu[0] > 0 ? 2 : 0);
    }
}
