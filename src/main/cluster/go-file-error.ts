/** Go's os.PathError text for a failed file operation: `open <path>: no such file or directory`. */
export function goFileError(err: unknown, path: string, op = 'open'): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const text: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'is a directory',
    ENOTDIR: 'not a directory',
    EMFILE: 'too many open files',
  };
  return `${op} ${path}: ${(code && text[code]) ?? (err as Error)?.message ?? String(err)}`;
}
