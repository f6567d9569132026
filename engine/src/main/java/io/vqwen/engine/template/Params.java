package io.vqwen.engine.template;

import java.util.List;
import java.util.Map;

/** Binds Python-style call arguments (positional, then keyword) to named parameters with defaults. */
final class Params {
    /** Marks a parameter without default. */
    static final Object REQUIRED = new Object();

    private Params() {
    }

    /**
     * @param namesAndDefaults pairs of parameter name and default value ({@link #REQUIRED} if none)
     * @return the bound values, in parameter order
     */
    static Object[] bind(String fn, List<Object> args, Map<String, Object> kwargs, Object... namesAndDefaults) {
        int n = namesAndDefaults.length / 2;
        if (args.size() > n) {
            throw new Py.PyError(fn + "() takes at most " + n + " argument" + (n == 1 ? "" : "s") + " (" + args.size() + " given)");
        }
        Object[] out = new Object[n];
        boolean[] set = new boolean[n];
        for (int i = 0; i < args.size(); i++) {
            out[i] = args.get(i);
            set[i] = true;
        }
        for (Map.Entry<String, Object> e : kwargs.entrySet()) {
            int i = indexOf(namesAndDefaults, e.getKey());
            if (i < 0) throw new Py.PyError(fn + "() got an unexpected keyword argument '" + e.getKey() + "'");
            if (set[i]) throw new Py.PyError(fn + "() got multiple values for argument '" + e.getKey() + "'");
            out[i] = e.getValue();
            set[i] = true;
        }
        for (int i = 0; i < n; i++) {
            if (set[i]) continue;
            if (namesAndDefaults[2 * i + 1] == REQUIRED) {
                throw new Py.PyError(fn + "() missing required argument '" + namesAndDefaults[2 * i] + "'");
            }
            out[i] = namesAndDefaults[2 * i + 1];
        }
        return out;
    }

    private static int indexOf(Object[] namesAndDefaults, String name) {
        for (int i = 0; i < namesAndDefaults.length; i += 2) if (namesAndDefaults[i].equals(name)) return i / 2;
        return -1;
    }

    static void noArgs(String fn, List<Object> args, Map<String, Object> kwargs) {
        if (!args.isEmpty() || !kwargs.isEmpty()) throw new Py.PyError(fn + "() takes no arguments");
    }
}
