package io.vqwen.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.vqwen.cli.mesh.MeshService;
import io.vqwen.proto.v1.EncodeRequest;
import io.vqwen.proto.v1.VisionServiceGrpc;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Health gates: startup is DOWN until the model is loaded; readiness stays DOWN, and says why, next to a mismatched peer. */
class StartupAndPeerIT {
    @Test
    void startupIsDownUntilTheModelIsLoaded() {
        try (MeshHarness mesh = MeshHarness.builder().services(MeshService.VISION)
                .property("vqwen.test.load-delay-ms", "6000").await(MeshHarness.Await.NOTHING).start()) {
            // The HTTP server answers at once; the model is still "loading".
            mesh.awaitHealth(MeshService.VISION, "live", Duration.ofSeconds(60));
            HttpResponse<String> started = mesh.health(MeshService.VISION, "started");
            assertEquals(503, started.statusCode(), started.body());
            assertTrue(started.body().contains("loading (test delay 6000 ms)"), started.body());
            assertEquals(503, mesh.health(MeshService.VISION, "ready").statusCode());
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> VisionServiceGrpc
                    .newBlockingStub(mesh.channel(MeshService.VISION)).withDeadlineAfter(30, TimeUnit.SECONDS)
                    .encode(EncodeRequest.newBuilder().setImage(ByteString.copyFrom(Golden.file("image.png"))).build()));
            assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
            assertEquals("the model is still loading", e.getStatus().getDescription());

            mesh.awaitHealth(MeshService.VISION, "started", Duration.ofSeconds(90));
            mesh.awaitHealth(MeshService.VISION, "ready", Duration.ofSeconds(90));
            assertTrue(mesh.health(MeshService.VISION, "ready").body().contains("\"warmup\": \"passed in"));
        }
    }

    /** A projector of another checkpoint (tiny-llava-b: output width 40) next to a tiny-llava decoder (hidden 32). */
    @Test
    void decoderStaysUnreadyNextToAMismatchedProjector() throws Exception {
        try (MeshHarness mesh = MeshHarness.builder().services(MeshService.PROJECTOR, MeshService.DECODER)
                .property(MeshService.PROJECTOR, "vqwen.model", Golden.MODEL_B.toString())
                .property(MeshService.PROJECTOR, "vqwen.peer-check.enabled", "false")
                .await(MeshHarness.Await.STARTED).start()) {
            mesh.awaitHealth(MeshService.PROJECTOR, "ready", Duration.ofSeconds(90));
            String reason = "projector output width is 40 but this service's hidden size is 32";
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            HttpResponse<String> ready = mesh.health(MeshService.DECODER, "ready");
            while (System.nanoTime() < end && !ready.body().contains(reason)) {
                Thread.sleep(200);
                ready = mesh.health(MeshService.DECODER, "ready");
            }
            assertTrue(ready.body().contains("mismatch with projector at 127.0.0.1:" + mesh.grpcPort(MeshService.PROJECTOR) + ": " + reason),
                    ready.body());
            assertTrue(ready.body().contains("model revision differs"), ready.body());
            assertTrue(ready.body().contains("\"warmup\": \"passed in"), "only the peer gate is closed: " + ready.body());
            assertEquals(503, ready.statusCode());
            // And it stays DOWN: the check repeats (every second until a match) with the same verdict.
            Thread.sleep(2500);
            assertEquals(503, mesh.health(MeshService.DECODER, "ready").statusCode());
            assertEquals(200, mesh.health(MeshService.DECODER, "started").statusCode());
        }
    }
}
