package io.vqwen.mesh;

import static io.vqwen.mesh.Golden.greedy;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.vqwen.cli.mesh.MeshService;
import io.vqwen.proto.v1.DType;
import io.vqwen.proto.v1.DecoderServiceGrpc;
import io.vqwen.proto.v1.EmbedRequest;
import io.vqwen.proto.v1.EmbedResponse;
import io.vqwen.proto.v1.EncodeRequest;
import io.vqwen.proto.v1.EncodeResponse;
import io.vqwen.proto.v1.FetchRequest;
import io.vqwen.proto.v1.GenerateChunk;
import io.vqwen.proto.v1.GenerateRequest;
import io.vqwen.proto.v1.InfoRequest;
import io.vqwen.proto.v1.InfoResponse;
import io.vqwen.proto.v1.ProjectRequest;
import io.vqwen.proto.v1.ProjectResponse;
import io.vqwen.proto.v1.ProjectorServiceGrpc;
import io.vqwen.proto.v1.Tensor;
import io.vqwen.proto.v1.TokenLogprob;
import io.vqwen.proto.v1.TopLogprob;
import io.vqwen.proto.v1.VisionServiceGrpc;
import io.vqwen.service.TensorCodec;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * vision, projector and decoder as three processes on the bundled model, talking gRPC over loopback: each
 * reproduces the reference (transformers) numbers through its real gRPC path, rejects bad input with a precise
 * INVALID_ARGUMENT, and the decoder frees a cancelled stream's sequence. One mesh for the whole class.
 */
class ModelServicesIT {
    static MeshHarness mesh;
    static VisionServiceGrpc.VisionServiceBlockingStub vision;
    static ProjectorServiceGrpc.ProjectorServiceBlockingStub projector;
    static DecoderServiceGrpc.DecoderServiceBlockingStub decoder;

    @BeforeAll
    static void startMesh() {
        mesh = MeshHarness.builder().services(MeshService.VISION, MeshService.PROJECTOR, MeshService.DECODER).start();
        vision = VisionServiceGrpc.newBlockingStub(mesh.channel(MeshService.VISION)).withDeadlineAfter(2, TimeUnit.MINUTES);
        projector = ProjectorServiceGrpc.newBlockingStub(mesh.channel(MeshService.PROJECTOR)).withDeadlineAfter(2, TimeUnit.MINUTES);
        decoder = DecoderServiceGrpc.newBlockingStub(mesh.channel(MeshService.DECODER)).withDeadlineAfter(2, TimeUnit.MINUTES);
    }

    @AfterAll
    static void stopMesh() {
        if (mesh != null) mesh.close();
    }

    @Test
    void infoAgreesAcrossTheServices() {
        InfoResponse v = vision.info(InfoRequest.getDefaultInstance());
        InfoResponse p = projector.info(InfoRequest.getDefaultInstance());
        InfoResponse d = decoder.info(InfoRequest.getDefaultInstance());
        assertEquals(List.of("vision", "projector", "decoder"), List.of(v.getService(), p.getService(), d.getService()));
        assertFalse(v.getRevision().isEmpty());
        assertEquals(v.getRevision(), p.getRevision());
        assertEquals(v.getRevision(), d.getRevision());
        // tiny-llava: CLIP hidden 64 -> projector 64 -> 32 -> Qwen3 hidden 32; 576 patches; 4096 positions.
        assertEquals(64, v.getOutputWidth());
        assertEquals(64, p.getInputWidth());
        assertEquals(32, p.getOutputWidth());
        assertEquals(32, d.getInputWidth());
        assertEquals(576, v.getTokensPerImage());
        assertEquals(4096, d.getMaxModelLen());
        assertEquals("cpu", d.getBackend());
        assertEquals(Golden.MODEL.toString(), d.getModel());
    }

    @Test
    void visionFeaturesMatchTheReference() {
        EncodeResponse r = vision.encode(EncodeRequest.newBuilder().setImage(ByteString.copyFrom(Golden.file("image.png")))
                .setMimeType("image/png").build());
        assertEquals(List.of(576L, 64L), r.getFeatures().getShapeList());
        assertEquals(DType.F32, r.getFeatures().getDtype());
        double err = Golden.relL2(TensorCodec.decode(r.getFeatures(), "features", 64), Golden.floats("vision_features"));
        assertTrue(err <= 1e-4, "vision_features rel L2 " + err);
        System.out.printf("vision over gRPC: vision_features rel L2 %.2e%n", err);
        assertTrue(r.getEncodeMs() > 0 && r.getPreprocessMs() > 0, "timings " + r.getPreprocessMs() + " / " + r.getEncodeMs());

        EncodeResponse bf16 = vision.encode(EncodeRequest.newBuilder().setImage(ByteString.copyFrom(Golden.file("image.png")))
                .setDtype(DType.BF16).build());
        assertEquals(576 * 64 * 2, bf16.getFeatures().getData().size());
        double errBf16 = Golden.relL2(TensorCodec.decode(bf16.getFeatures(), "features", 64), Golden.floats("vision_features"));
        assertTrue(errBf16 <= 4e-3, "bf16 features rel L2 " + errBf16);
        System.out.printf("vision over gRPC, bf16 on the wire: rel L2 %.2e%n", errBf16);
    }

    @Test
    void projectorOutputMatchesTheReference() {
        Tensor features = TensorCodec.encode(Golden.floats("vision_features"), 576, 64, DType.F32);
        ProjectResponse r = projector.project(ProjectRequest.newBuilder().setFeatures(features).build());
        assertEquals(List.of(576L, 32L), r.getEmbeddings().getShapeList());
        double err = Golden.relL2(TensorCodec.decode(r.getEmbeddings(), "embeddings", 32), Golden.floats("projected"));
        assertTrue(err <= 1e-4, "projected rel L2 " + err);
        System.out.printf("projector over gRPC: projected rel L2 %.2e%n", err);
    }

    @Test
    void decoderReproducesTheGreedyIdsAndLogprobs() {
        GenerateRequest req = greedy(Golden.ints("input_ids"), 24)
                .setImageEmbeddings(TensorCodec.encode(Golden.floats("projected"), 576, 32, DType.F32))
                .setLogprobs(true).setTopLogprobs(20).setRequestId("golden-image").build();
        List<GenerateChunk> chunks = Golden.drain(decoder.generate(req));
        assertArrayEquals(Golden.ints("generated_ids"), Golden.tokenIds(chunks));
        GenerateChunk last = Golden.last(chunks);
        assertEquals("length", last.getFinishReason());
        assertEquals(591, last.getUsage().getPromptTokens());
        assertEquals(24, last.getUsage().getCompletionTokens());
        assertTrue(last.getTimings().getTtftMs() > 0);

        double worst = worstTopLogprobDifference(chunks);
        assertTrue(worst <= 1e-4, "worst top-20 logprob difference " + worst);
        System.out.printf("decoder over gRPC: 24 greedy ids exact, worst top-20 logprob difference %.2e%n", worst);
    }

    /** The largest |logprob - reference| over the 24 steps' top-20 alternatives; ids must be in the reference top-32. */
    private static double worstTopLogprobDifference(List<GenerateChunk> chunks) {
        float[] topValues = Golden.floats("step_topk_values");
        int[] topIds = Golden.ints("step_topk_ids");
        float[] lse = Golden.floats("step_logsumexp");
        List<TokenLogprob> steps = chunks.stream().flatMap(c -> c.getLogprobsList().stream()).toList();
        assertEquals(24, steps.size());
        double worst = 0;
        for (int s = 0; s < 24; s++) {
            TokenLogprob lp = steps.get(s);
            assertEquals(20, lp.getTopCount());
            assertEquals(topIds[s * 32], lp.getTop(0).getTokenId(), "step " + s + " top-1");
            for (TopLogprob t : lp.getTopList()) {
                int j = indexOf(topIds, s * 32, 32, t.getTokenId());
                assertTrue(j >= 0, "step " + s + ": token " + t.getTokenId() + " is not in the reference top-32");
                worst = Math.max(worst, Math.abs(t.getLogprob() - (topValues[s * 32 + j] - lse[s])));
            }
        }
        return worst;
    }

    /**
     * The mesh's own path: image bytes to the projector once (Embed calls vision itself and keeps the embeddings),
     * then only the handle to the decoder, which fetches the embeddings: the golden ids and log-probabilities.
     */
    @Test
    void anImageByHandleGoesProjectorToDecoderAndGivesTheReferenceAnswer() throws Exception {
        byte[] png = Golden.file("image.png");
        String sha = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(png));
        double fetchedBefore = orZero(mesh.metric(MeshService.DECODER, "vqwen_wire_image_bytes_sum{hop=\"projector_decoder\"}"));
        EmbedResponse h = projector.embed(EmbedRequest.newBuilder().setImage(ByteString.copyFrom(png)).build());
        assertEquals(sha, h.getSha256());
        assertEquals(576, h.getRows());
        assertEquals(32, h.getWidth());
        GenerateRequest req = greedy(Golden.ints("input_ids"), 24).addImageSha256(sha).setLogprobs(true).setTopLogprobs(20).build();
        List<GenerateChunk> chunks = Golden.drain(decoder.generate(req));
        assertArrayEquals(Golden.ints("generated_ids"), Golden.tokenIds(chunks));
        double worst = worstTopLogprobDifference(chunks);
        assertTrue(worst <= 1e-4, "worst top-20 logprob difference " + worst);
        // f32 on the CPU: 576 x 32 x 4 bytes crossed projector -> decoder once.
        assertEquals(fetchedBefore + 576 * 32 * 4, mesh.metric(MeshService.DECODER, "vqwen_wire_image_bytes_sum{hop=\"projector_decoder\"}"));
        assertTrue(mesh.metric(MeshService.PROJECTOR, "vqwen_wire_image_bytes_count{hop=\"vision_projector\"}") >= 1);

        assertTrue(projector.embed(EmbedRequest.newBuilder().setImage(ByteString.copyFrom(png)).build()).getCached(), "same bytes: cached");
        EmbedResponse ref = projector.embed(EmbedRequest.newBuilder().setSha256(sha).build());
        assertTrue(ref.getCached());
        // Two pins taken above; give them back as a cancelled request would.
        projector.fetch(FetchRequest.newBuilder().addSha256(sha).addSha256(sha).setReleaseOnly(true).build());

        String unknown = "0".repeat(64);
        StatusRuntimeException lookup = assertThrows(StatusRuntimeException.class,
                () -> projector.embed(EmbedRequest.newBuilder().setSha256(unknown).build()));
        assertEquals(Status.Code.NOT_FOUND, lookup.getStatus().getCode());
        StatusRuntimeException gen = assertThrows(StatusRuntimeException.class,
                () -> Golden.drain(decoder.generate(greedy(Golden.ints("input_ids"), 4).addImageSha256(unknown).build())));
        assertEquals(Status.Code.NOT_FOUND, gen.getStatus().getCode());
        assertTrue(gen.getStatus().getDescription().startsWith("image sha256:" + unknown), gen.getStatus().getDescription());
    }

    private static double orZero(double v) {
        return Double.isNaN(v) ? 0 : v;
    }

    /** image.png and image2.png through vision -> projector -> decoder, as the gateway chains them. */
    @Test
    void eachImageThroughTheThreeServicesGivesItsReferenceAnswer() {
        int[] image1 = caption("image.png");
        int[] image2 = caption("image2.png");
        assertArrayEquals(Golden.ints("generated_ids"), image1);
        assertArrayEquals(Golden.ints("image2_generated_ids"), image2);
        // A random tiny model repeats one token; a different token for image2 proves the image reached the decoder.
        assertNotEquals(image1[0], image2[0]);
    }

    private int[] caption(String image) {
        EncodeResponse f = vision.encode(EncodeRequest.newBuilder().setImage(ByteString.copyFrom(Golden.file(image))).build());
        ProjectResponse e = projector.project(ProjectRequest.newBuilder().setFeatures(f.getFeatures()).setDtype(DType.F32).build());
        return Golden.tokenIds(Golden.drain(decoder.generate(greedy(Golden.ints("input_ids"), 24).setImageEmbeddings(e.getEmbeddings()).build())));
    }

    @Test
    void textOnlyPromptGivesItsReferenceAnswer() {
        List<GenerateChunk> chunks = Golden.drain(decoder.generate(greedy(Golden.ints("text_input_ids"), 16).build()));
        assertArrayEquals(Golden.ints("text_generated_ids"), Golden.tokenIds(chunks));
        assertEquals(15, Golden.last(chunks).getUsage().getPromptTokens());
    }

    @Test
    void badInputIsInvalidArgumentNamingTheProblem() {
        assertInvalid("the image is empty (0 bytes)", () -> vision.encode(EncodeRequest.getDefaultInstance()));
        StatusRuntimeException notImage = assertThrows(StatusRuntimeException.class,
                () -> vision.encode(EncodeRequest.newBuilder().setImage(ByteString.copyFromUtf8("this is not an image")).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, notImage.getStatus().getCode());
        assertFalse(notImage.getStatus().getDescription().isBlank());

        assertInvalid("features: expected shape (N, 64), got [576, 63]",
                () -> projector.project(ProjectRequest.newBuilder().setFeatures(TensorCodec.encode(new float[576 * 63], 576, 63, DType.F32)).build()));
        assertInvalid("features: missing", () -> projector.project(ProjectRequest.getDefaultInstance()));

        int[] text = Golden.ints("text_input_ids");
        assertInvalid("max_tokens must be > 0, got 0", () -> Golden.drain(decoder.generate(greedy(text, 0).build())));
        assertInvalid("the prompt is empty", () -> Golden.drain(decoder.generate(greedy(new int[0], 4).build())));
        assertInvalid("the prompt has 5000 tokens, over the maximum context length of 4096 tokens",
                () -> Golden.drain(decoder.generate(greedy(new int[5000], 4).build())));
        assertInvalid("prompt of 15 tokens + max_tokens 4090 exceeds the maximum context length of 4096 tokens",
                () -> Golden.drain(decoder.generate(greedy(text, 4090).build())));
        assertInvalid("token id 200000 is outside the vocabulary",
                () -> Golden.drain(decoder.generate(greedy(new int[] {1, 200000}, 4).build())));
        // 576 image tokens but the embeddings of only 575.
        assertInvalid("the prompt has 576 image tokens, which need 576 x 32 image embedding values; got 18400",
                () -> Golden.drain(decoder.generate(greedy(Golden.ints("input_ids"), 4)
                        .setImageEmbeddings(TensorCodec.encode(new float[575 * 32], 575, 32, DType.F32)).build())));
        // The decoder still works after all that.
        assertEquals(16, Golden.tokenIds(Golden.drain(decoder.generate(greedy(text, 16).build()))).length);
    }

    @Test
    void cancellingTheStreamFreesTheSequence() throws Exception {
        double cancelledBefore = mesh.metric(MeshService.DECODER, "vqwen_request_success_total{finished_reason=\"cancelled\"}");
        CountDownLatch firstChunk = new CountDownLatch(1);
        CountDownLatch closed = new CountDownLatch(1);
        AtomicReference<ClientCallStreamObserver<GenerateRequest>> call = new AtomicReference<>();
        AtomicReference<Throwable> end = new AtomicReference<>();
        DecoderServiceGrpc.newStub(mesh.channel(MeshService.DECODER)).generate(
                greedy(Golden.ints("text_input_ids"), 4000).setIgnoreEos(true).build(),
                new ClientResponseObserver<GenerateRequest, GenerateChunk>() {
                    @Override
                    public void beforeStart(ClientCallStreamObserver<GenerateRequest> c) {
                        call.set(c);
                    }

                    @Override
                    public void onNext(GenerateChunk value) {
                        firstChunk.countDown();
                    }

                    @Override
                    public void onError(Throwable t) {
                        end.set(t);
                        closed.countDown();
                    }

                    @Override
                    public void onCompleted() {
                        closed.countDown();
                    }
                });
        assertTrue(firstChunk.await(60, TimeUnit.SECONDS), "no token within 60 s");
        assertEquals(1.0, mesh.metric(MeshService.DECODER, "vqwen_num_requests_running"));
        assertTrue(mesh.metric(MeshService.DECODER, "vqwen_kv_cache_blocks_used") > 0);

        call.get().cancel("client went away", null);
        assertTrue(closed.await(10, TimeUnit.SECONDS));
        assertEquals(Status.Code.CANCELLED, Status.fromThrowable(end.get()).getCode());
        // The sequence leaves at the next step: nothing running, every KV block back in the pool.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline && mesh.metric(MeshService.DECODER, "vqwen_num_requests_running") != 0) Thread.sleep(50);
        assertEquals(0.0, mesh.metric(MeshService.DECODER, "vqwen_num_requests_running"));
        assertEquals(0.0, mesh.metric(MeshService.DECODER, "vqwen_kv_cache_blocks_used"));
        assertEquals(0.0, mesh.metric(MeshService.DECODER, "vqwen_kv_cache_usage_perc"));
        assertEquals(cancelledBefore + 1, mesh.metric(MeshService.DECODER, "vqwen_request_success_total{finished_reason=\"cancelled\"}"));
    }

    @Test
    void readinessNamesTheMatchingPeerAndMetricsMove() {
        String ready = mesh.health(MeshService.DECODER, "ready").body();
        assertTrue(ready.contains("projector at 127.0.0.1:" + mesh.grpcPort(MeshService.PROJECTOR) + " matches"), ready);
        assertTrue(mesh.health(MeshService.PROJECTOR, "ready").body().contains("vision at 127.0.0.1:" + mesh.grpcPort(MeshService.VISION) + " matches"));

        double ttftBefore = mesh.metric(MeshService.DECODER, "vqwen_time_to_first_token_seconds_count");
        double encodedBefore = mesh.metric(MeshService.VISION, "vqwen_encoder_images_total{outcome=\"ok\"}");
        Golden.drain(decoder.generate(greedy(Golden.ints("text_input_ids"), 3).build()));
        vision.encode(EncodeRequest.newBuilder().setImage(ByteString.copyFrom(Golden.file("image2.png"))).build());
        assertEquals(ttftBefore + 1, mesh.metric(MeshService.DECODER, "vqwen_time_to_first_token_seconds_count"));
        assertTrue(mesh.metric(MeshService.DECODER, "vqwen_inter_token_latency_seconds_count") >= 2);
        assertTrue(mesh.metric(MeshService.DECODER, "vqwen_generation_tokens_total") >= 3);
        assertEquals(encodedBefore + 1, mesh.metric(MeshService.VISION, "vqwen_encoder_images_total{outcome=\"ok\"}"));
    }

    private static void assertInvalid(String message, Runnable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.toString());
        assertEquals(message, e.getStatus().getDescription());
    }

    private static int indexOf(int[] a, int from, int n, int v) {
        for (int i = 0; i < n; i++) if (a[from + i] == v) return i;
        return -1;
    }
}
