package io.vqwen.engine;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.engine.cpu.CpuBackend;
import io.vqwen.engine.image.ImageException;
import io.vqwen.engine.model.Checkpoint;
import java.nio.file.Files;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A batch of images encodes to what each image gives alone (within float32 rounding: the vision tower batched
 * differs from alone by ~2.5e-7 rel L2 on the CPU), and one bad image fails the batch with its own message.
 */
class VisionEncoderTest {
    @Test
    void aBatchEqualsEachImageAloneAndABadImageIsReported() throws Exception {
        Fixture f = Fixture.tiny();
        try (CpuBackend b = new CpuBackend(); Checkpoint c = Checkpoint.open(f.dir(), EnumSet.of(Checkpoint.Part.VISION))) {
            VisionEncoder v = new VisionEncoder(c, f.dir(), b, 40_000_000);
            byte[] one = Files.readAllBytes(f.dir().resolve("image.png")), two = Files.readAllBytes(f.dir().resolve("image2.png"));
            List<VisionEncoder.EncodedImage> batch = v.encodeBatch(List.of(one, two, one));
            assertTrue(Fixture.relL2(batch.get(0).features(), v.encode(one).features()) < 1e-5);
            assertTrue(Fixture.relL2(batch.get(1).features(), v.encode(two).features()) < 1e-5);
            assertTrue(Fixture.relL2(batch.get(2).features(), batch.get(0).features()) < 1e-5);
            assertTrue(Fixture.relL2(batch.get(1).features(), batch.get(0).features()) > 1e-2, "two images, two answers");
            ImageException e = assertThrows(ImageException.class, () -> v.encodeBatch(List.of(one, "not an image".getBytes())));
            assertTrue(e.getMessage().contains("not an image"), e.getMessage());
        }
    }
}
