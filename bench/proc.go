package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// RaiseNoFile raises this process's file-descriptor limit as far as it can: to
// fs.nr_open when allowed to raise the hard limit (root), else to the hard limit.
// It returns the resulting soft limit.
func RaiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && n > lim.Max {
			want := syscall.Rlimit{Cur: n, Max: n}
			if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
				return n, nil
			}
		}
	}
	if lim.Cur < lim.Max {
		want := syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return lim.Cur, err
		}
	}
	return lim.Max, nil
}

// NoFileLimit returns the soft and hard RLIMIT_NOFILE of process pid.
func NoFileLimit(pid int) (soft, hard string, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			f := strings.Fields(strings.TrimPrefix(line, "Max open files"))
			if len(f) >= 2 {
				return f[0], f[1], nil
			}
		}
	}
	return "", "", errors.New("no 'Max open files' line")
}

// ParseVmRSS returns VmRSS in bytes from the text of /proc/<pid>/status.
func ParseVmRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmRSS:") {
			continue
		}
		f := strings.Fields(strings.TrimPrefix(line, "VmRSS:"))
		if len(f) < 1 {
			break
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS %q: %v", line, err)
		}
		unit := "kB"
		if len(f) > 1 {
			unit = f[1]
		}
		switch strings.ToLower(unit) {
		case "kb":
			return n * 1024, nil
		case "mb":
			return n * 1024 * 1024, nil
		case "b":
			return n, nil
		}
		return 0, fmt.Errorf("VmRSS %q: unknown unit", line)
	}
	return 0, errors.New("no VmRSS line")
}

// ReadRSS returns the resident set size of pid in bytes.
func ReadRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return ParseVmRSS(b)
}

// clockTicks is USER_HZ, 100 on every Linux Go supports.
const clockTicks = 100

// ParseStatCPU returns utime+stime in clock ticks from /proc/<pid>/stat.
func ParseStatCPU(stat []byte) (int64, error) {
	// comm may contain spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no ')'")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("stat: bad utime/stime")
	}
	return u + s, nil
}

// ReadCPUSeconds returns the user+system CPU time of pid in seconds.
func ReadCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	t, err := ParseStatCPU(b)
	if err != nil {
		return 0, err
	}
	return float64(t) / clockTicks, nil
}

// ParseListenInodes returns the socket inodes of sockets in LISTEN state on
// port, from the text of /proc/net/tcp or /proc/net/tcp6.
func ParseListenInodes(procNetTCP []byte, port int) []uint64 {
	var out []uint64
	sc := bufio.NewScanner(bytes.NewReader(procNetTCP))
	first := true
	for sc.Scan() {
		if first { // header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		if f[3] != "0A" { // TCP_LISTEN
			continue
		}
		j := strings.LastIndexByte(f[1], ':')
		if j < 0 {
			continue
		}
		p, err := strconv.ParseUint(f[1][j+1:], 16, 16)
		if err != nil || int(p) != port {
			continue
		}
		ino, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil || ino == 0 {
			continue
		}
		out = append(out, ino)
	}
	return out
}

// FindListenerPID returns the pid of the process (other than this one) that
// holds a listening TCP socket on port, by matching /proc/net/tcp{,6} inodes
// against /proc/*/fd links.
func FindListenerPID(port int) (int, error) {
	want := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, ino := range ParseListenInodes(b, port) {
			want[fmt.Sprintf("socket:[%d]", ino)] = true
		}
	}
	if len(want) == 0 {
		return 0, fmt.Errorf("no socket listening on port %d", port)
	}
	self := os.Getpid()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == self {
			continue
		}
		fds, err := os.ReadDir(filepath.Join("/proc", d.Name(), "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			l, err := os.Readlink(filepath.Join("/proc", d.Name(), "fd", fd.Name()))
			if err == nil && want[l] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("port %d is listened on, but no visible process holds the socket (try -pid)", port)
}
