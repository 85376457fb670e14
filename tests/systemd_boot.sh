#!/bin/sh
# Turn a fresh PID + mount + network namespace into a box a booting systemd cannot hurt
# the host from, then exec the given command (systemd, or a dry run).
#
#   unshare --fork --pid --mount --mount-proc --net --uts --ipc --propagation private \
#       sh tests/systemd_boot.sh HOST_MNT_NS CGROUP CONSOLE -- COMMAND...
#
# HOST_MNT_NS  the caller's `readlink /proc/self/ns/mnt`: we refuse to run in it
# CGROUP       a cgroup name of our own (e.g. /scraper-systemd-test-123), created here in
#              the name=systemd and unified hierarchies: systemd takes its root from its own
#              cgroup, so everything it creates stays under this one (the caller removes it)
# CONSOLE      a host file that becomes /dev/console (systemd's own messages)
#
# A booting systemd empties /tmp (tmpfiles rule `D /tmp`), writes /etc, /var and /run,
# sets sysctls and the hostname, seeds the kernel's entropy, triggers udev, fscks and
# mounts from /etc/fstab. So before the exec, and on our own mounts only:
#   - every mount is private: nothing mounted here propagates to the host;
#   - /tmp, /var/tmp and /run are new tmpfs; /etc and /var are overlays whose writes land
#     on a tmpfs (the host's files read through, never change); /etc/systemd/system is an
#     empty tmpfs (the host's enablement links are not seen);
#   - /dev is a new tmpfs with only null, zero, full, random, urandom, tty, a private
#     devpts and shm;
#   - the root filesystem (/usr, /opt, /home, ... all but the mounts above), /sys,
#     /proc/sys and /proc/sysrq-trigger are read-only;
#   - every unit file except targets, slices and journald is masked (/dev/null links in
#     /run/systemd/system), and so is every generator;
#   - $container is set, so systemd runs as in a container (no udev, no kernel setup).
# The network namespace has only lo (systemd brings it up); the UTS and IPC namespaces
# are new, so a hostname or an IPC object set in here stays in here.
set -eu

die() { echo "systemd_boot.sh: $*" >&2; exit 97; }

[ $# -ge 4 ] && [ "$4" = "--" ] || die "usage: HOST_MNT_NS CGROUP CONSOLE -- COMMAND..."
host_ns=$1 cgroup=$2 console=$3
shift 4

# Refuse to do any of this anywhere but in the new namespaces.
[ "$$" = 1 ] || die "not PID 1 of a new PID namespace (pid $$)"
[ "$(readlink /proc/self/ns/mnt)" != "$host_ns" ] || die "still in the host's mount namespace"
case $cgroup in /scraper-systemd-test-*) ;; *) die "bad cgroup name $cgroup" ;; esac

mount --make-rprivate /

# Our own cgroup, in the hierarchies systemd tracks processes with.
for hierarchy in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
    if [ -f "$hierarchy/cgroup.procs" ]; then
        mkdir -p "$hierarchy$cgroup"
        echo 0 >"$hierarchy$cgroup/cgroup.procs"  # 0: this shell, soon systemd
    fi
done

# /run first: the staging area for the rest lives on it.
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
stage=/run/scraper-test
mkdir -p $stage/dev $stage/etc.upper $stage/etc.work $stage/var.upper $stage/var.work

# A /dev of our own.
mount -t tmpfs -o mode=0755,nosuid tmpfs $stage/dev
for node in null zero full random urandom tty; do
    touch $stage/dev/$node
    mount --bind /dev/$node $stage/dev/$node
done
touch $stage/dev/console
mount --bind "$console" $stage/dev/console
mkdir $stage/dev/pts $stage/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts $stage/dev/pts
ln -s pts/ptmx $stage/dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs $stage/dev/shm
ln -s /proc/self/fd $stage/dev/fd
ln -s /proc/self/fd/0 $stage/dev/stdin
ln -s /proc/self/fd/1 $stage/dev/stdout
ln -s /proc/self/fd/2 $stage/dev/stderr
mount --move $stage/dev /dev

mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t overlay overlay \
    -o lowerdir=/etc,upperdir=$stage/etc.upper,workdir=$stage/etc.work /etc
mount -t overlay overlay \
    -o lowerdir=/var,upperdir=$stage/var.upper,workdir=$stage/var.work /var
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp
mount -t tmpfs -o mode=0755 tmpfs /etc/systemd/system

# Read-only: the root filesystem and the kernel's interfaces. A bind remount changes
# this mount in this namespace only; the host's / stays writable.
mount -o remount,bind,ro /
mount -o remount,bind,ro /sys
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
if [ -e /proc/sysrq-trigger ]; then
    mount --bind /proc/sysrq-trigger /proc/sysrq-trigger
    mount -o remount,bind,ro /proc/sysrq-trigger
fi

# Mask every unit file but targets, slices and journald; mask every generator.
mkdir -p /run/systemd/system /run/systemd/system-generators
for dir in /usr/lib/systemd/system /lib/systemd/system /usr/local/lib/systemd/system; do
    [ -d "$dir" ] || continue
    for path in "$dir"/*; do
        [ -d "$path" ] && continue
        [ -e "$path" ] || [ -L "$path" ] || continue
        unit=${path##*/}
        case $unit in
            *.target | *.slice) ;;
            systemd-journald.service | systemd-journald.socket) ;;
            systemd-journald-dev-log.socket) ;;
            *) ln -sfn /dev/null "/run/systemd/system/$unit" ;;
        esac
    done
done
for dir in /usr/lib/systemd/system-generators /lib/systemd/system-generators \
           /usr/local/lib/systemd/system-generators; do
    [ -d "$dir" ] || continue
    for path in "$dir"/*; do
        [ -e "$path" ] || continue
        ln -sfn /dev/null "/run/systemd/system-generators/${path##*/}"
    done
done

export container=scraper-test
exec "$@"
