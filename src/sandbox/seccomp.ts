/**
 * The seccomp filter a sandboxed server runs under, as the classic-BPF program bubblewrap loads
 * (`bwrap --seccomp FD`). A deny-list: the process keeps the ordinary system calls a server needs and
 * loses the ones that reach into the kernel or other processes — tracing, mounting, key rings, eBPF,
 * modules, kexec, new namespaces (bubblewrap made the ones it needs before the filter applies),
 * io_uring (a bypass for the filter itself) and clone3 (its flags cannot be inspected: answered
 * ENOSYS so libc falls back to clone, whose namespace flags are checked). A foreign architecture
 * (another ABI's syscall numbers, x32 included) is killed rather than interpreted with the wrong table.
 */
import { arch } from 'node:process';

const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;
const RET_KILL_PROCESS = 0x80000000;
const EPERM = 1;
const ENOSYS = 38;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET */
const CLONE_NEW_NAMESPACES = 0x7e020000;
const X32_SYSCALL_BIT = 0x40000000;

interface Table {
  audit: number;
  clone: number;
  clone3: number;
  denied: Record<string, number>;
  x32: boolean;
}

// Numbers from the kernel's uapi headers (x86_64: asm/unistd_64.h; arm64: asm-generic/unistd.h).
const TABLES: Record<string, Table> = {
  x64: {
    audit: 0xc000003e,
    clone: 56,
    clone3: 435,
    x32: true,
    denied: {
      ptrace: 101,
      process_vm_readv: 310,
      process_vm_writev: 311,
      kcmp: 312,
      mount: 165,
      umount2: 166,
      pivot_root: 155,
      chroot: 161,
      open_tree: 428,
      move_mount: 429,
      fsopen: 430,
      fsconfig: 431,
      fsmount: 432,
      fspick: 433,
      mount_setattr: 442,
      unshare: 272,
      setns: 308,
      keyctl: 250,
      add_key: 248,
      request_key: 249,
      bpf: 321,
      perf_event_open: 298,
      userfaultfd: 323,
      init_module: 175,
      finit_module: 313,
      delete_module: 176,
      kexec_load: 246,
      kexec_file_load: 320,
      open_by_handle_at: 304,
      name_to_handle_at: 303,
      io_uring_setup: 425,
      io_uring_enter: 426,
      io_uring_register: 427,
      swapon: 167,
      swapoff: 168,
      reboot: 169,
      acct: 163,
      syslog: 103,
      quotactl: 179,
      iopl: 172,
      ioperm: 173,
      lookup_dcookie: 212,
      vhangup: 153,
    },
  },
  arm64: {
    audit: 0xc00000b7,
    clone: 220,
    clone3: 435,
    x32: false,
    denied: {
      ptrace: 117,
      process_vm_readv: 270,
      process_vm_writev: 271,
      kcmp: 272,
      mount: 40,
      umount2: 39,
      pivot_root: 41,
      chroot: 51,
      open_tree: 428,
      move_mount: 429,
      fsopen: 430,
      fsconfig: 431,
      fsmount: 432,
      fspick: 433,
      mount_setattr: 442,
      unshare: 97,
      setns: 268,
      keyctl: 219,
      add_key: 217,
      request_key: 218,
      bpf: 280,
      perf_event_open: 241,
      userfaultfd: 282,
      init_module: 105,
      finit_module: 273,
      delete_module: 106,
      kexec_load: 104,
      kexec_file_load: 294,
      open_by_handle_at: 265,
      name_to_handle_at: 264,
      io_uring_setup: 425,
      io_uring_enter: 426,
      io_uring_register: 427,
      swapon: 224,
      swapoff: 225,
      reboot: 142,
      acct: 89,
      syslog: 116,
      quotactl: 60,
      lookup_dcookie: 18,
      vhangup: 58,
    },
  },
};

/** The system calls the filter refuses (EPERM) on this machine's architecture, for docs and tests. */
export function deniedSyscalls(cpu: string = arch): string[] {
  const t = TABLES[cpu];
  return t ? Object.keys(t.denied) : [];
}

/** Whether a filter can be built for this architecture (x86_64 and arm64). */
export function seccompSupported(cpu: string = arch): boolean {
  return cpu in TABLES;
}

/** The filter as `struct sock_filter[]` bytes (8 per instruction, little-endian), ready for `bwrap --seccomp`. */
export function seccompProgram(cpu: string = arch): Buffer {
  const t = TABLES[cpu];
  if (!t) throw new Error(`no seccomp filter for architecture \`${cpu}\``);
  // Instructions reference labels; jump offsets are resolved once every position is known.
  type Ins = { code: number; k: number; jt?: string; jf?: string; label?: string };
  const prog: Ins[] = [];
  const at = (label: string) => prog.findIndex((i) => i.label === label);
  prog.push({ code: LD_W_ABS, k: 4 }); // seccomp_data.arch
  prog.push({ code: JEQ_K, k: t.audit, jf: 'kill' });
  prog.push({ code: LD_W_ABS, k: 0 }); // seccomp_data.nr
  if (t.x32) prog.push({ code: JGE_K, k: X32_SYSCALL_BIT, jt: 'kill' });
  for (const nr of Object.values(t.denied)) prog.push({ code: JEQ_K, k: nr, jt: 'deny' });
  prog.push({ code: JEQ_K, k: t.clone3, jt: 'enosys' });
  prog.push({ code: JEQ_K, k: t.clone, jt: 'clone' });
  prog.push({ code: RET_K, k: RET_ALLOW });
  prog.push({ code: LD_W_ABS, k: 16, label: 'clone' }); // args[0] (flags), low 32 bits on little-endian
  prog.push({ code: JSET_K, k: CLONE_NEW_NAMESPACES, jt: 'deny' });
  prog.push({ code: RET_K, k: RET_ALLOW });
  prog.push({ code: RET_K, k: RET_ERRNO | EPERM, label: 'deny' });
  prog.push({ code: RET_K, k: RET_ERRNO | ENOSYS, label: 'enosys' });
  prog.push({ code: RET_K, k: RET_KILL_PROCESS, label: 'kill' });
  const out = Buffer.alloc(prog.length * 8);
  prog.forEach((ins, i) => {
    const jump = (label: string | undefined) => {
      if (!label) return 0;
      const off = at(label) - i - 1;
      if (off < 0 || off > 255) throw new Error(`seccomp jump out of range: ${label}`);
      return off;
    };
    out.writeUInt16LE(ins.code, i * 8);
    out.writeUInt8(jump(ins.jt), i * 8 + 2);
    out.writeUInt8(jump(ins.jf), i * 8 + 3);
    out.writeUInt32LE(ins.k >>> 0, i * 8 + 4);
  });
  return out;
}
