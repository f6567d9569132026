package io.vqwen.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vqwen.engine.pipeline.Sha256;
import java.util.List;
import org.junit.jupiter.api.Test;

class ProjectorPoolTest {
    private static String sha(int i) {
        return Sha256.hex(Integer.toString(i).getBytes());
    }

    @Test
    void rendezvousSpreadsImagesAndMovesOnlyTheLostReplicasShare() {
        List<String> three = List.of("p0:9082", "p1:9082", "p2:9082"), two = List.of("p0:9082", "p2:9082");
        int[] counts = new int[3];
        int moved = 0;
        for (int i = 0; i < 3000; i++) {
            int owner = ProjectorPool.ownerIndex(three, sha(i));
            counts[owner]++;
            String after = two.get(ProjectorPool.ownerIndex(two, sha(i)));
            if (!after.equals(three.get(owner))) {
                moved++;
                assertEquals("p1:9082", three.get(owner), "only images of the removed replica move");
            }
        }
        for (int c : counts) assertTrue(c > 800 && c < 1200, "spread: " + java.util.Arrays.toString(counts));
        assertEquals(counts[1], moved);
    }

    @Test
    void endpointListsAreCheckedAndBlankMeansTheDefault() {
        assertEquals(List.of("a:1", "b:2"), ProjectorPool.parse(" a:1 , b:2 "));
        assertTrue(ProjectorPool.parse(" ").isEmpty());
        assertThrows(IllegalArgumentException.class, () -> ProjectorPool.parse("a:1,b"));
    }
}
