package callbacktls

import (
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Files serves a certificate mounted as tls.crt and tls.key in Dir (by
// cert-manager, say), reloading it when the files change, so that a renewed
// certificate is served without a restart.
type Files struct {
	Dir string

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime time.Time
	checked time.Time
}

// recheck is how often the files' modification time is looked at.
const recheck = 10 * time.Second

// Load reads the files once, so that a missing or broken certificate fails
// the start with a clear error instead of every handshake.
func (f *Files) Load() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loadLocked(time.Now(), true)
}

func (f *Files) loadLocked(now time.Time, force bool) error {
	if !force && now.Sub(f.checked) < recheck {
		return nil
	}
	f.checked = now
	certPath, keyPath := filepath.Join(f.Dir, "tls.crt"), filepath.Join(f.Dir, "tls.key")
	info, err := os.Stat(certPath)
	if err != nil {
		return fmt.Errorf("callback certificate: %w", err)
	}
	if !force && f.cert != nil && info.ModTime().Equal(f.modTime) {
		return nil
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return fmt.Errorf("callback certificate in %s: %w", f.Dir, err)
	}
	f.cert, f.modTime = &pair, info.ModTime()
	return nil
}

// GetCertificate is a tls.Config GetCertificate function. A reload that
// fails keeps serving the certificate loaded before.
func (f *Files) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.loadLocked(time.Now(), false); err != nil && f.cert == nil {
		return nil, err
	}
	return f.cert, nil
}
