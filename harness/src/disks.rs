//! [`Disks`]: each replica's file (order and catalog) on a small filesystem of its own, a
//! size-limited tmpfs mounted under `<data_dir>/disks/`, the file in the data directory a
//! symbolic link onto it, so that filling one replica's disk touches nothing else (the
//! disk-full tests and the `disk-full` nemesis). Mounting needs root.
//!
//! Guarantees: every tmpfs mounted is unmounted when the [`Disks`] is dropped (lazily, so a
//! process killed a moment before does not keep it busy); [`Disk::fill_until`] writes only
//! a filler file of its own, which [`Disk::free`] removes.

use crate::service::Service;
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use toystore_config::ClusterConfig;

/// One replica's filesystem.
#[derive(Debug)]
pub struct Disk {
    dir: PathBuf,
}

impl Disk {
    /// Mounts a tmpfs of `size` bytes at `dir` (created if needed).
    fn mount(dir: PathBuf, size: u64) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .context("running mount")?;
        if !status.success() {
            bail!(
                "mounting a tmpfs at {} failed ({status}): a disk of its own per replica needs root",
                dir.display()
            );
        }
        Ok(Self { dir })
    }

    /// Free bytes on it.
    pub fn free_bytes(&self) -> anyhow::Result<u64> {
        toystore_raft::disk::free_bytes(&self.dir)
            .with_context(|| format!("reading the free space of {}", self.dir.display()))
    }

    /// Writes its filler file until fewer than `left` bytes are free (appending to the
    /// filler if it exists).
    pub fn fill_until(&self, left: u64) -> anyhow::Result<()> {
        let filler = self.filler();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&filler)
            .with_context(|| format!("creating {}", filler.display()))?;
        let chunk = vec![0u8; 256 << 10];
        loop {
            let free = self.free_bytes()?;
            if free < left {
                break;
            }
            // Just past `left`, never into the last bytes.
            let step =
                usize::try_from(free - left + 4096).map_or(chunk.len(), |s| s.min(chunk.len()));
            file.write_all(&chunk[..step])
                .with_context(|| format!("filling {}", filler.display()))?;
        }
        file.sync_all()?;
        Ok(())
    }

    /// Removes the filler file, if any.
    pub fn free(&self) -> anyhow::Result<()> {
        match std::fs::remove_file(self.filler()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", self.filler().display()))
            }
            _ => Ok(()),
        }
    }

    fn filler(&self) -> PathBuf {
        self.dir.join("filler")
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

/// A disk of its own for every order and catalog replica of a store.
#[derive(Debug, Default)]
pub struct Disks {
    disks: BTreeMap<Service, Disk>,
}

impl Disks {
    /// Mounts a tmpfs of `size` bytes per replica of `config` under `<data_dir>/disks/` and
    /// links each replica's file onto its own. The files must not exist yet.
    pub fn mount(config: &ClusterConfig, size: u64) -> anyhow::Result<Self> {
        let mut files: Vec<(Service, PathBuf)> = config
            .replicas
            .iter()
            .map(|r| (Service::Order(r.id), config.order_db(r.id)))
            .collect();
        files.extend(
            config
                .catalogs
                .iter()
                .map(|c| (Service::Catalog(c.id), config.catalog_db(c.id))),
        );
        let mut disks = Self::default();
        for (service, file) in files {
            let name = file
                .file_name()
                .with_context(|| format!("{} names no file", file.display()))?;
            let disk = Disk::mount(config.data_dir.join("disks").join(name), size)?;
            std::os::unix::fs::symlink(disk.dir.join(name), &file)
                .with_context(|| format!("linking {} onto its own disk", file.display()))?;
            disks.disks.insert(service, disk);
        }
        Ok(disks)
    }

    /// The disk of `service`'s file, if it has one of its own.
    pub fn get(&self, service: Service) -> Option<&Disk> {
        self.disks.get(&service)
    }
}
