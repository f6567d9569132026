package io.vqwen.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.cli.mesh.MeshService;
import io.vqwen.proto.v1.DType;
import io.vqwen.proto.v1.DecoderServiceGrpc;
import io.vqwen.proto.v1.GenerateChunk;
import io.vqwen.proto.v1.GenerateRequest;
import io.vqwen.proto.v1.InfoRequest;
import io.vqwen.proto.v1.ProjectRequest;
import io.vqwen.proto.v1.ProjectResponse;
import io.vqwen.proto.v1.ProjectorServiceGrpc;
import io.vqwen.proto.v1.Tensor;
import io.vqwen.service.TensorCodec;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * One image's embeddings at the real model's size, 576 x 2560, go through the real gRPC path: out of the projector
 * (5.9 MB in f32) and into the decoder's Generate (5.9 MB in f32, 2.9 MB in bf16), above grpc-java's 4 MiB default
 * message limit. The projector and decoder run a checkpoint with those widths (see {@link WideCheckpoint}).
 */
class FullSizeTensorsIT {
    static MeshHarness mesh;
    static ProjectorServiceGrpc.ProjectorServiceBlockingStub projector;
    static DecoderServiceGrpc.DecoderServiceBlockingStub decoder;

    @BeforeAll
    static void start() throws Exception {
        Path model = WideCheckpoint.write(Path.of("target", "wide-checkpoint").toAbsolutePath());
        mesh = MeshHarness.builder().model(model.toString()).services(MeshService.PROJECTOR, MeshService.DECODER)
                // No vision service here: the projector has no peer to check. The decoder still checks the projector.
                .property(MeshService.PROJECTOR, "vqwen.peer-check.enabled", "false")
                .start();
        projector = ProjectorServiceGrpc.newBlockingStub(mesh.channel(MeshService.PROJECTOR)).withDeadlineAfter(2, TimeUnit.MINUTES);
        decoder = DecoderServiceGrpc.newBlockingStub(mesh.channel(MeshService.DECODER)).withDeadlineAfter(2, TimeUnit.MINUTES);
    }

    @AfterAll
    static void stop() {
        if (mesh != null) mesh.close();
    }

    @Test
    void fullSizeEmbeddingsTravelInF32AndBf16() {
        assertEquals(2560, decoder.info(InfoRequest.getDefaultInstance()).getInputWidth());

        float[] features = new float[576 * WideCheckpoint.FEATURES];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < features.length; i++) features[i] = (float) r.nextGaussian();
        ProjectResponse projected = projector.project(ProjectRequest.newBuilder()
                .setFeatures(TensorCodec.encode(features, 576, WideCheckpoint.FEATURES, DType.F32)).setDtype(DType.F32).build());
        Tensor f32 = projected.getEmbeddings();
        assertEquals(List.of(576L, 2560L), f32.getShapeList());
        assertEquals(5_898_240, f32.getData().size(), "576 x 2560 f32 out of the projector");
        assertTrue(f32.getSerializedSize() > 4 << 20);

        float[] embeddings = TensorCodec.decode(f32, "embeddings", 2560);
        Tensor bf16 = TensorCodec.encode(embeddings, 576, 2560, DType.BF16);
        assertEquals(2_949_120, bf16.getData().size());

        int[] prompt = new int[576 + 3];
        for (int i = 0; i < 576; i++) prompt[i] = WideCheckpoint.IMAGE_TOKEN;
        prompt[576] = 1;
        prompt[577] = 2;
        prompt[578] = 3;
        for (Tensor t : List.of(f32, bf16)) {
            GenerateRequest req = Golden.greedy(prompt, 4).setImageEmbeddings(t).setIgnoreEos(true).build();
            assertTrue(req.getSerializedSize() > (t == f32 ? 5_800_000 : 2_900_000));
            List<GenerateChunk> chunks = Golden.drain(decoder.generate(req));
            GenerateChunk last = Golden.last(chunks);
            assertEquals("length", last.getFinishReason(), t.getDtype() + " request");
            assertEquals(579, last.getUsage().getPromptTokens());
            assertEquals(4, Golden.tokenIds(chunks).length);
        }
    }
}
