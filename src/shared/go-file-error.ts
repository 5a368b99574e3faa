const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'not a directory',
  ELOOP: 'too many levels of symbolic links',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'file name too long',
  EIO: 'input/output error',
};

/**
 * Go's *PathError text for a failed os.ReadFile: `open <path>: <errno text>`;
 * reading a directory fails at read(2): `read <path>: is a directory`.
 */
export function goFileError(err: unknown, file: string): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EISDIR') return `read ${file}: is a directory`;
  const text = code ? ERRNO_TEXT[code] : undefined;
  return `open ${file}: ${text ?? (err instanceof Error ? err.message : String(err))}`;
}
