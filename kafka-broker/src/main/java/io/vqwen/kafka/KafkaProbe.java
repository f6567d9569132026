package io.vqwen.kafka;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * "Does this broker serve?" asked in the Kafka wire protocol itself, without a Kafka client on the classpath (this
 * module's users run their own kafka-clients version). An open port is not enough: a KRaft broker is usable once it
 * has registered with its controller and appears in its own metadata.
 */
final class KafkaProbe {
    private static final short API_VERSIONS = 18;
    private static final short METADATA = 3;

    private KafkaProbe() {
    }

    /**
     * Sends ApiVersions v0, then Metadata (v4..v8, the non-flexible versions, as the broker allows) for no topics, and
     * returns how many live brokers the answer lists.
     */
    static int liveBrokers(InetSocketAddress address, Duration timeout) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(address, (int) timeout.toMillis());
            s.setSoTimeout((int) timeout.toMillis());
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            DataInputStream in = new DataInputStream(s.getInputStream());

            send(out, API_VERSIONS, (short) 0, 1, new byte[0]);
            ByteBuffer r = receive(in, 1);
            short error = r.getShort();
            if (error != 0) throw new IOException("ApiVersions answered error code " + error);
            int n = r.getInt();
            short min = -1, max = -1;
            for (int i = 0; i < n; i++) {
                short key = r.getShort(), lo = r.getShort(), hi = r.getShort();
                if (key == METADATA) {
                    min = lo;
                    max = hi;
                }
            }
            short version = (short) Math.max(4, min);
            if (min < 0 || version > 8 || version > max) {
                throw new IOException("the broker offers Metadata v" + min + "..v" + max + ", none of v4..v8 this probe speaks");
            }
            // Metadata body: topics = empty array (not null: we want no topic, only the brokers), allow_auto_topic_creation.
            ByteBuffer body = ByteBuffer.allocate(5).putInt(0).put((byte) 0);
            send(out, METADATA, version, 2, body.array());
            ByteBuffer m = receive(in, 2);
            m.getInt(); // throttle_time_ms
            return m.getInt(); // brokers array length
        }
    }

    private static void send(DataOutputStream out, short apiKey, short version, int correlationId, byte[] body)
            throws IOException {
        byte[] client = "vqwen-probe".getBytes(StandardCharsets.UTF_8);
        // Request header v1: api_key, api_version, correlation_id, client_id (int16-length string).
        int size = 2 + 2 + 4 + 2 + client.length + body.length;
        out.writeInt(size);
        out.writeShort(apiKey);
        out.writeShort(version);
        out.writeInt(correlationId);
        out.writeShort(client.length);
        out.write(client);
        out.write(body);
        out.flush();
    }

    private static ByteBuffer receive(DataInputStream in, int correlationId) throws IOException {
        int size = in.readInt();
        if (size < 4 || size > (64 << 20)) throw new IOException("implausible Kafka response size " + size);
        byte[] b = in.readNBytes(size);
        if (b.length != size) throw new IOException("the broker closed the connection mid-response");
        ByteBuffer r = ByteBuffer.wrap(b);
        int got = r.getInt();
        if (got != correlationId) throw new IOException("correlation id " + got + ", expected " + correlationId);
        return r;
    }
}
