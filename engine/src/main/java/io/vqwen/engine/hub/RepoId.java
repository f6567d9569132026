package io.vqwen.engine.hub;

import java.util.regex.Pattern;

/**
 * A Hub model id {@code org/name} with an optional revision (branch, tag or commit hash), written
 * {@code org/name@revision} on the command line.
 *
 * @param org      namespace (user or organization)
 * @param name     repository name
 * @param revision branch, tag or 40-hex commit hash; {@code main} when none was given
 */
public record RepoId(String org, String name, String revision) {

    public static final String DEFAULT_REVISION = "main";

    // huggingface_hub validate_repo_id: word characters, '-' and '.', no '--' or '..', at most 96 characters.
    private static final Pattern PART = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]*");
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

    public RepoId {
        if (!validPart(org) || !validPart(name) || org.length() + name.length() + 1 > 96) {
            throw new IllegalArgumentException("not a Hub model id (expected org/name[@revision]): " + org + "/" + name);
        }
        if (revision == null || revision.isBlank() || revision.contains("..") || revision.startsWith("/")
                || revision.endsWith("/") || revision.chars().anyMatch(c -> c <= ' ' || c == '\\')) {
            throw new IllegalArgumentException("not a valid revision for " + org + "/" + name + ": '" + revision + "'");
        }
    }

    /** True when {@code text} has the shape {@code org/name[@revision]}; says nothing about the Hub having it. */
    public static boolean looksLikeRepoId(String text) {
        try {
            parse(text);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** Parses {@code org/name} or {@code org/name@revision}. */
    public static RepoId parse(String text) {
        String id = text;
        String revision = DEFAULT_REVISION;
        int at = text.indexOf('@');
        if (at >= 0) {
            id = text.substring(0, at);
            revision = text.substring(at + 1);
        }
        int slash = id.indexOf('/');
        if (slash < 0 || slash != id.lastIndexOf('/')) {
            throw new IllegalArgumentException("not a Hub model id (expected org/name[@revision]): " + text);
        }
        return new RepoId(id.substring(0, slash), id.substring(slash + 1), revision);
    }

    private static boolean validPart(String part) {
        return part != null && PART.matcher(part).matches() && !part.contains("--") && !part.contains("..")
                && !part.endsWith(".") && !part.endsWith("-");
    }

    /** {@code org/name}, the form the Hub's URLs use. */
    public String id() {
        return org + "/" + name;
    }

    /** True when the revision is already a commit hash, so no ref has to be looked up. */
    public boolean revisionIsCommit() {
        return COMMIT.matcher(revision).matches();
    }

    /** The cache folder huggingface_hub uses for this repo: {@code models--org--name}. */
    public String cacheFolderName() {
        return "models--" + org + "--" + name;
    }

    @Override
    public String toString() {
        return DEFAULT_REVISION.equals(revision) ? id() : id() + "@" + revision;
    }
}
