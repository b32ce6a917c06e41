import CKVM
import CLibvirt
import Foundation
import Glibc
import Stage1Protocol
import Stage1Kit

/// The guarantee that QEMU does not outlive the pod. libvirt daemonizes QEMU, so it would survive
/// a SIGKILLed supervisor. `run` therefore splits in two: this process (the one stage0 exec'd, which
/// keeps the pod lock and is the pod's `pid`) starts the supervisor as PID 1 of a new PID namespace
/// and waits for it; the supervisor dies with this process (parent-death signal), and when a
/// namespace's PID 1 dies the kernel kills everything in it, QEMU included. PID 1 is also the
/// namespace's reaper, so QEMU is reaped at once.
enum Containment {
    /// Set in the supervisor's environment.
    static let supervisorVariable = "RKT_KVM_SUPERVISOR"

    static var isSupervisor: Bool { ProcessInfo.processInfo.environment[supervisorVariable] == "1" }

    /// Starts the supervisor and exits with its status; SIGTERM, SIGINT, SIGHUP, SIGQUIT (stop the
    /// apps) and SIGUSR1 (`stop --force`: destroy the VM) are passed on to it.
    static func runOuter(_ request: Stage1Request, _ run: RunPayload) throws(Stage1Error) -> Never {
        let lockFD = try PodLock.keep(run)
        let files = PodFiles(pod: request.pod)
        var waited = sigset_t()
        sigemptyset(&waited)
        for signal in [SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1] { sigaddset(&waited, signal) }
        var original = sigset_t()
        sigprocmask(SIG_BLOCK, &waited, &original)

        guard let executable = realpath("/proc/self/exe", nil) else { throw systemError("realpath", "/proc/self/exe") }
        defer { free(executable) }
        // The supervisor reads the request from the file; the descriptor and the lock stay here.
        var environment = ProcessInfo.processInfo.environment
        environment[Stage1Protocol.lockFDEnvironmentVariable] = nil
        environment["RKT_STAGE1_REQUEST_FD"] = nil
        environment[supervisorVariable] = "1"
        let argv = CStringArray(CommandLine.arguments)
        let envp = CStringArray(environment.map { $0.key + "=" + $0.value })
        defer { argv.free(); envp.free() }
        // The child starts with the signals unblocked again (the mask is inherited through execve).
        sigprocmask(SIG_SETMASK, &original, nil)
        let pid = argv.pointers.withUnsafeBufferPointer { a in
            envp.pointers.withUnsafeBufferPointer { e in kvm_spawn_in_pid_namespace(executable, a.baseAddress, e.baseAddress) }
        }
        sigprocmask(SIG_BLOCK, &waited, nil)
        guard pid > 0 else { throw systemError("clone", "a PID namespace for the supervisor") }
        _ = lockFD
        try? Stage1Files.writePID(getpid(), files)
        debug("supervisor started as pid \(pid), PID 1 of its own PID namespace")

        let siKernel: Int32 = 0x80
        while true {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid {
                let exit = AppExitStatus(waitStatus: status)
                if case .signaled = exit { writeStderr("stage1-kvm: the supervisor was killed by signal \(exit.value - 128)\n") }
                Glibc.exit(exit.value)
            }
            var info = siginfo_t()
            let signal = sigwaitinfo(&waited, &info)
            if signal < 0 || signal == SIGCHLD { continue }
            if info.si_code == siKernel { continue }
            kill(pid, signal)
        }
    }
}
