// Package atomicfile is the one way glipctl writes a file: the new
// content appears at its path whole, or not at all, and the file that was
// there before is left as it was unless the new one replaces it.
//
// # Writing
//
// Create opens a temporary file in the target's directory (so that the
// final rename stays within one file system):
//
//   - on Linux, an unnamed file (open(2) with O_TMPFILE), given a name
//     only at commit, so that a process killed at any moment before the
//     commit (kill -9, a crash, a power loss) leaves nothing behind;
//   - where that is not available (other systems, file systems without
//     O_TMPFILE, no /proc), a hidden file named "." + base + ".tmp-" +
//     12 hex digits, created exclusively. An error, Abort or a cancelled
//     context removes it; a killed process leaves it.
//
// The caller writes through the File (Write, or OS for the system calls
// a writer needs, such as early writeback) and ends with Commit or
// Abort. Abort is a no-op after Commit, so the usual form is
//
//	f, err := atomicfile.Create(ctx, path, atomicfile.Options{})
//	if err != nil {
//		return err
//	}
//	defer f.Abort()
//	... write to f ...
//	return f.Commit()
//
// WriteFile does this for a byte slice.
//
// # Rules
//
//   - Mode: a new file gets Options.Perm (DefaultPerm, 0644, when zero)
//     less the process umask, as open(2) gives it, whether or not it
//     replaces another file (the old file's mode and owner are not carried
//     over). On Windows only the read-only bit has a meaning.
//   - Sync: Commit flushes each file to the disk (fsync) before it is
//     renamed into place, and syncs the target directories after (best
//     effort: an error there is ignored, since the files are already in
//     place). Options.NoSync skips both: an error or an interruption still
//     leaves nothing, but after a power loss or a kernel crash the target
//     may exist and be empty, and a write error that the file system
//     reports only on sync goes unnoticed. File.Sync syncs early (a caller
//     may overlap it with other work); Commit does not sync a file again
//     unless it was written after.
//   - No clobber: without Options.Replace an existing target is an error
//     (ErrExist), at Create and again at Commit. The file is placed with a
//     hard link, which fails if the target appeared meanwhile, so two
//     writers never overwrite each other; on a file system without hard
//     links, a check and a rename (not atomic against a concurrent
//     creator).
//   - Replace: with Options.Replace the file is renamed over the target,
//     atomically: a reader sees the old file or the new one, never a mix
//     or nothing. A target that is a symbolic link is replaced by the file
//     (the link is not followed).
//   - A directory where a file goes is an error (ErrIsDir, "is a
//     directory"), with or without Replace.
//   - Nothing left on error: any error of Create, Write, Sync or Commit,
//     a cancelled context, or Abort removes the temporary file; the target
//     is then as it was.
//   - Cancellation: once the context given to Create is done, Write and
//     Commit fail with its error and nothing is committed. A commit that
//     has started renaming finishes (or restores, see below).
//   - Errors are *Error and name the target, never the temporary file.
//     Callers branch with errors.Is(err, ErrExist), errors.Is(err,
//     ErrIsDir) or errors.As(err, **Error).
//
// # Groups
//
// Commit(files...) commits several files (an output and its reports)
// together or not at all:
//
//  1. Every target is checked first (exists without Replace, is a
//     directory, unreachable) and every file synced and given its
//     temporary name; any problem fails the group before anything is
//     replaced.
//  2. Each existing target that is to be replaced, except the last one,
//     gets a hard-link backup, a hidden "." + base + ".bak-" + 12 hex
//     digits beside it (on a file system without hard links the target is
//     renamed to that name instead, so it is briefly absent).
//  3. The files are placed in order. If placing one fails, the targets
//     already placed are restored: a replaced target gets its backup back
//     (a rename, so it is the very file that was there), a target that did
//     not exist is removed. Then the backups and temporary files are
//     removed, and the error returned names the target that failed. If a
//     restore itself fails, the error says so and names the backup, which
//     is kept.
//  4. After the last file is placed the backups are removed.
//
// A process killed during a commit (between steps 1 and 4, which take
// no longer than a few system calls per file) may leave backups and, for
// a file with Replace whose target exists, its hidden temporary name: on
// Linux an unnamed file is given that name in step 1, for the rename. An
// unnamed file that replaces nothing is linked at its target directly in
// step 3, so it never has a temporary name. Nothing else is ever left.
//
// A File is used by one goroutine at a time, except that File.Sync may run
// on another goroutine while the caller does not write to, commit or
// abort that file until it returns.
package atomicfile
