package config

import (
	"strings"
	"testing"
)

func TestValidateAllow(t *testing.T) {
	err := Config{Allow: []string{"10.40.1.0/24"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "--allow") {
		t.Errorf("Validate with a bad --allow = %v", err)
	}
}
